"""One cell's IOPub messages as the nbformat outputs a saved notebook holds (``headless``)."""

from __future__ import annotations


class OutputCollector:
    """Turn one cell's IOPub messages into nbformat outputs, as nbclient saves them.

    Outputs sent while an ipywidgets ``Output`` widget captures this cell belong to the widget
    (whose state is not saved), so they are left out, as nbclient leaves them out of the cell.
    """

    def __init__(self, msg_id: str, outputs: list | None):
        self.msg_id = msg_id
        self.outputs = outputs
        self.idle = False
        self.execution_count = None
        self._clear_before_next = False
        self._captured_by: dict[str, str] = {}  # Output widget comm id -> captured msg_id
        self._displays: dict[str, list] = {}  # display_id -> the outputs that show it

    def receive(self, message: dict) -> None:
        kind, content = message["header"]["msg_type"], message["content"]
        if kind in ("comm_open", "comm_msg"):
            self._track_output_widget(content)
            return
        if kind == "comm_close":
            self._captured_by.pop(content.get("comm_id"), None)
            return
        if message["parent_header"].get("msg_id") != self.msg_id:
            return
        if kind == "status":
            self.idle = self.idle or content.get("execution_state") == "idle"
            return
        if self.outputs is None or kind == "execute_input":
            return
        if self.msg_id in self._captured_by.values():
            return
        if kind == "clear_output":
            if content.get("wait"):
                self._clear_before_next = True
            else:
                self.outputs.clear()
            return
        if kind == "update_display_data":
            self._update_display(content)
            return
        output = _to_output(kind, content)
        if output is None:
            return
        if self._clear_before_next:
            self.outputs.clear()
            self._clear_before_next = False
        display_id = (content.get("transient") or {}).get("display_id")
        if display_id:
            self._displays.setdefault(display_id, []).append(output)
        last = self.outputs[-1] if self.outputs else None
        if (
            output.output_type == "stream"
            and last is not None
            and last.output_type == "stream"
            and last.name == output.name
        ):
            last.text += output.text
        else:
            self.outputs.append(output)

    def _track_output_widget(self, content: dict) -> None:
        data = content.get("data") or {}
        state = data.get("state") or {}
        comm_id = content.get("comm_id")
        if "msg_id" in state and comm_id:
            if state["msg_id"]:
                self._captured_by[comm_id] = state["msg_id"]
            else:
                self._captured_by.pop(comm_id, None)

    def _update_display(self, content: dict) -> None:
        display_id = (content.get("transient") or {}).get("display_id")
        for output in self._displays.get(display_id, []):
            output.data = content.get("data", {})
            output.metadata = content.get("metadata", {})


def _to_output(kind: str, content: dict):
    from nbformat.v4 import output_from_msg

    if kind not in ("stream", "display_data", "execute_result", "error"):
        return None
    return output_from_msg({"header": {"msg_type": kind}, "content": content})
