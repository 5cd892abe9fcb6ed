"""A v2 app whose trigger annotation names a class imported only for type checkers.

With `from __future__ import annotations` the module imports fine, but the Python worker
resolves every function's annotations with `typing.get_type_hints` while indexing: `QueueMessage`
is not defined at run time, so indexing fails with NameError and no function loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from azure.functions import QueueMessage

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="inbox", connection="AzureWebJobsStorage")
async def inbox(msg: QueueMessage) -> None:
    return None
