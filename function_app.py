"""The Functions app: one blueprint per capability, nothing else."""

import azure.functions as func

from functions import (
    backoffice,
    backoffice_files,
    backoffice_index,
    backoffice_journal,
    backoffice_payments,
    backoffice_print,
    cashback,
    cashback_files,
    notices,
    payments,
    payments_notices,
    payments_receipts,
    platform,
    push,
    standin,
    wallet,
)

app = func.FunctionApp()
app.register_functions(platform.bp)
app.register_functions(backoffice.bp)
app.register_functions(backoffice_files.bp)
app.register_functions(backoffice_print.bp)
app.register_functions(backoffice_journal.bp)
app.register_functions(backoffice_index.bp)
app.register_functions(backoffice_payments.bp)
app.register_functions(cashback.bp)
app.register_functions(cashback_files.bp)
app.register_functions(notices.bp)
app.register_functions(payments.bp)
app.register_functions(payments_notices.bp)
app.register_functions(payments_receipts.bp)
app.register_functions(push.bp)
app.register_functions(standin.bp)
app.register_functions(wallet.bp)
