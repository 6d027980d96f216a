"""The Functions app: one blueprint per capability, nothing else."""

import azure.functions as func

from functions import platform, push, wallet

app = func.FunctionApp()
app.register_functions(platform.bp)
app.register_functions(push.bp)
app.register_functions(wallet.bp)
