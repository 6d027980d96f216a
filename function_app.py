"""The Functions app: one blueprint per capability, nothing else."""

import azure.functions as func

from functions import platform

app = func.FunctionApp()
app.register_functions(platform.bp)
