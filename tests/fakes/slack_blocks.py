"""Block Kit limits as Slack's API enforces them, with Slack's wording and JSON pointers.

Slack answers a bad message with ``invalid_blocks`` (``chat.*``, response URLs) or a bad view
with ``invalid_arguments`` (``views.*``), listing each problem as
``"<what> [json-pointer:/blocks/3/text/text]"``. These checks return that list; empty means valid.

Uniqueness follows Slack's documentation: a ``block_id`` must be unique within a message or view,
an ``action_id`` within its containing block (the same ``action_id`` in two blocks is allowed and
is how list messages with one "Extend" button per row are usually built).
"""

from __future__ import annotations

from typing import Any

MESSAGE_MAX_BLOCKS = 50
SURFACE_MAX_BLOCKS = 100  # modals and App Home
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
ID = 255  # action_id, block_id, callback_id
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
VIEW_TITLE = 24  # also submit and close
PRIVATE_METADATA = 3000

_BLOCK_TYPES = {
    "section", "header", "divider", "context", "actions", "image", "input", "rich_text",
    "file", "video", "markdown",
}


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.block_ids: set[str] = set()

    def add(self, what: str, pointer: str) -> None:
        self.errors.append(f"{what} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, list) and len(value) > limit:
            self.add(f"no more than {limit} items allowed", pointer)

    def text(self, obj: Any, limit: int, pointer: str, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.add("must provide an object", pointer)
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.add("must be a valid enum value", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("must provide a string", f"{pointer}/text")
        elif not text:
            self.add("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_len(text, limit, f"{pointer}/text")

    def element(self, el: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(el, dict) or not isinstance(el.get("type"), str):
            self.add("must provide an object with a type", pointer)
            return
        action_id = el.get("action_id")
        if action_id is not None:
            self.max_len(action_id, ID, f"{pointer}/action_id")
            if action_id in action_ids:
                self.add(f"duplicate action_id '{action_id}' in block", f"{pointer}/action_id")
            action_ids.add(action_id)
        kind = el["type"]
        if kind == "button":
            self.text(el.get("text"), BUTTON_TEXT, f"{pointer}/text", plain_only=True)
            self.max_len(el.get("value"), BUTTON_VALUE, f"{pointer}/value")
            self.max_len(el.get("url"), URL, f"{pointer}/url")
        elif kind == "image":
            self.max_len(el.get("alt_text"), FIELD_TEXT, f"{pointer}/alt_text")
        elif kind in ("plain_text", "mrkdwn"):
            self.text(el, SECTION_TEXT, pointer)

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.add("must provide an object", pointer)
            return
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            self.add("failed to match all allowed schemas", pointer)
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.max_len(block_id, ID, f"{pointer}/block_id")
            if block_id in self.block_ids:
                self.add(f"duplicate block_id '{block_id}'", f"{pointer}/block_id")
            self.block_ids.add(block_id)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.add("must provide text or fields", pointer)
            if "text" in block:
                self.text(block["text"], SECTION_TEXT, f"{pointer}/text")
            fields = block.get("fields")
            if fields is not None:
                self.max_items(fields, SECTION_FIELDS, f"{pointer}/fields")
                for i, field in enumerate(fields if isinstance(fields, list) else []):
                    self.text(field, FIELD_TEXT, f"{pointer}/fields/{i}")
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory", action_ids)
        elif kind == "header":
            self.text(block.get("text"), HEADER_TEXT, f"{pointer}/text", plain_only=True)
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add("must provide at least 1 items", f"{pointer}/elements")
                return
            limit = ACTIONS_ELEMENTS if kind == "actions" else CONTEXT_ELEMENTS
            self.max_items(elements, limit, f"{pointer}/elements")
            for i, el in enumerate(elements):
                self.element(el, f"{pointer}/elements/{i}", action_ids)
        elif kind == "image":
            self.max_len(block.get("image_url"), URL, f"{pointer}/image_url")
            self.max_len(block.get("alt_text"), FIELD_TEXT, f"{pointer}/alt_text")
        elif kind == "input":
            self.text(block.get("label"), FIELD_TEXT, f"{pointer}/label", plain_only=True)
            self.element(block.get("element"), f"{pointer}/element", action_ids)

    def blocks(self, blocks: Any, pointer: str, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.add("must provide an array", pointer)
            return
        self.max_items(blocks, max_blocks, pointer)
        for i, block in enumerate(blocks):
            self.block(block, f"{pointer}/{i}")


def message_errors(blocks: Any) -> list[str]:
    """Problems Slack would report for a message's ``blocks`` (a decoded JSON value)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", MESSAGE_MAX_BLOCKS)
    return checker.errors


def view_errors(view: Any, *, kind: str | None = None) -> list[str]:
    """Problems Slack would report for a modal or App Home ``view``."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.add("must provide an object", "/view")
        return checker.errors
    view_type = view.get("type")
    if view_type not in ("modal", "home") or (kind is not None and view_type != kind):
        checker.add("must be a valid enum value", "/view/type")
    if view_type == "modal":
        checker.text(view.get("title"), VIEW_TITLE, "/view/title", plain_only=True)
        for button in ("submit", "close"):
            if button in view:
                checker.text(view[button], VIEW_TITLE, f"/view/{button}", plain_only=True)
    checker.max_len(view.get("callback_id"), ID, "/view/callback_id")
    checker.max_len(view.get("private_metadata"), PRIVATE_METADATA, "/view/private_metadata")
    checker.blocks(view.get("blocks"), "/view/blocks", SURFACE_MAX_BLOCKS)
    return checker.errors
