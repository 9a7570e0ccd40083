"""The state behind the fake Slack Web API, and its API methods.

``Workspace`` holds users, user groups, messages, files and views. ``METHODS`` maps a Web API
method name to a function ``(workspace, args) -> reply fields``; errors are raised as
``SlackError`` and answered the way Slack answers them: HTTP 200, ``{"ok": false, "error":
code}`` plus, for Block Kit problems, ``errors`` and ``response_metadata.messages``. The server
in ``tests.fakes.slack`` authenticates, records and serialises calls around these functions.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack_blocks import message_errors, view_errors

Json = dict[str, Any]


class SlackError(Exception):
    """An API error answered as ``{"ok": false, "error": code, ...}``."""

    def __init__(self, code: str, messages: list[str] | None = None, *, status: int = 200):
        super().__init__(code)
        self.code, self.messages, self.status = code, messages or [], status

    def body(self) -> Json:
        body: Json = {"ok": False, "error": self.code}
        if self.messages:
            body["errors"] = self.messages
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


@dataclass
class FakeMessage:
    """A message as stored by the fake (ephemeral ones have ``ephemeral_user``)."""

    channel: str
    ts: str
    text: str
    blocks: list[Json] | None = None
    thread_ts: str | None = None
    ephemeral_user: str | None = None
    edited: bool = False
    deleted: bool = False


@dataclass
class FakeFile:
    """A file from ``files.getUploadURLExternal`` on; ``content`` is None until uploaded."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str = ""
    channels: list[str] = field(default_factory=list)
    initial_comment: str = ""
    thread_ts: str | None = None
    completed: bool = False


class Workspace:
    """Users, messages, files and views of one fake workspace (callers hold the server lock)."""

    def __init__(self, *, team_id: str, bot_user_id: str, root_url: str = "") -> None:
        self.team_id, self.bot_user_id, self.root_url = team_id, bot_user_id, root_url
        self.users: dict[str, Json] = {}  # user id -> user object
        self.messages: list[FakeMessage] = []
        self.files: dict[str, FakeFile] = {}
        self.uploads: dict[str, str] = {}  # upload token -> file id
        self.views: dict[str, Json] = {}  # view id -> modal
        self.home: dict[str, Json] = {}  # user id -> home view
        self.usergroups: dict[str, Json] = {}  # group id -> usergroup object (with "users")
        self.triggers_used: set[str] = set()
        self.triggers_expired: set[str] = set()
        self.archived: set[str] = set()  # channels Slack answers `is_archived` for
        self.seq = itertools.count(1)
        self.epoch = int(time.time())

    def add_user(self, email: str, user_id: str | None, name: str | None,
                 real_name: str | None, email_shown: bool = True) -> str:
        user_id = user_id or "U" + hashlib.sha1(email.lower().encode()).hexdigest()[:9].upper()
        handle = name or email.split("@")[0]
        profile = {"real_name": real_name or handle, "display_name": handle}
        if email_shown:  # Slack leaves it out for an app without users:read.email
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id, "team_id": self.team_id, "name": handle, "deleted": False,
            "is_bot": False, "real_name": real_name or handle, "profile": profile,
        }
        return user_id

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        for user_id in members:
            self.user(user_id)  # a user group holds users of the workspace only
        self.usergroups[group_id] = {
            "id": group_id, "team_id": self.team_id, "is_usergroup": True, "name": handle,
            "handle": handle, "date_delete": 0, "users": list(members),
            "user_count": len(members),
        }

    def new_ts(self) -> str:
        n = next(self.seq)
        return f"{self.epoch + n // 1_000_000}.{n % 1_000_000:06d}"

    def user(self, user_id: Any) -> Json:
        user = self.users.get(str(user_id or ""))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def channel(self, args: Json) -> str:
        channel = str(args.get("channel") or "")
        if not channel:
            raise SlackError("channel_not_found")
        if channel[0] in "UW" and channel in self.users:
            return "D" + channel[1:]  # posting to a user id lands in the app's DM with them
        if channel in self.archived:
            raise SlackError("is_archived")
        return channel

    def message(self, channel: str, ts: str) -> FakeMessage:
        for message in self.messages:
            if message.channel == channel and message.ts == ts and not message.deleted:
                return message
        raise SlackError("message_not_found")

    def content(self, args: Json) -> tuple[str, list[Json] | None]:
        """The text and blocks of a message, checked the way chat.postMessage checks them."""
        text, blocks = str(args.get("text") or ""), args.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            errors = message_errors(blocks)
            if errors:
                raise SlackError("invalid_blocks", errors)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        return text, blocks

    def checked_view(self, args: Json, kind: str) -> Json:
        view = args.get("view")
        errors = view_errors(view, kind=kind)
        if errors:
            raise SlackError("invalid_arguments", errors)
        assert isinstance(view, dict)
        return view

    def store_view(self, view: Json, view_id: str) -> Json:
        return {**view, "id": view_id, "hash": f"h{next(self.seq)}"}


Method = Callable[[Workspace, Json], Json]


def _auth_test(ws: Workspace, args: Json) -> Json:
    return {"url": "https://fake.slack.com/", "team": "Fake", "user": "finops-bot",
            "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": "B0BOT"}


def _post_message(ws: Workspace, args: Json) -> Json:
    channel = ws.channel(args)
    text, blocks = ws.content(args)
    message = FakeMessage(channel, ws.new_ts(), text, blocks, args.get("thread_ts") or None)
    ws.messages.append(message)
    return {"channel": channel, "ts": message.ts,
            "message": {"type": "message", "user": ws.bot_user_id, "ts": message.ts,
                        "text": text, "blocks": blocks or []}}


def _post_ephemeral(ws: Workspace, args: Json) -> Json:
    channel = ws.channel(args)
    user = ws.user(args.get("user"))["id"]
    text, blocks = ws.content(args)
    message = FakeMessage(channel, ws.new_ts(), text, blocks, args.get("thread_ts") or None,
                          ephemeral_user=user)
    ws.messages.append(message)
    return {"message_ts": message.ts}


def _update(ws: Workspace, args: Json) -> Json:
    message = ws.message(ws.channel(args), str(args.get("ts") or ""))
    if message.ephemeral_user:
        raise SlackError("cant_update_message")
    message.text, message.blocks = ws.content(args)
    message.edited = True
    return {"channel": message.channel, "ts": message.ts, "text": message.text}


def _delete(ws: Workspace, args: Json) -> Json:
    message = ws.message(ws.channel(args), str(args.get("ts") or ""))
    message.deleted = True
    return {"channel": message.channel, "ts": message.ts}


def _open_conversation(ws: Workspace, args: Json) -> Json:
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if not users:
        if args.get("channel"):
            return {"channel": {"id": args["channel"]}}
        raise SlackError("users_list_not_supplied")
    ids = [ws.user(u)["id"] for u in users]
    if len(ids) == 1:
        return {"channel": {"id": "D" + ids[0][1:], "is_im": True, "user": ids[0]}}
    digest = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()[:9].upper()
    return {"channel": {"id": "G" + digest, "is_mpim": True}}


def _lookup_by_email(ws: Workspace, args: Json) -> Json:
    email = str(args.get("email") or "").strip().lower()
    if not email:
        raise SlackError("invalid_arguments", ["missing required field: email"])
    for user in ws.users.values():
        if user["profile"].get("email", "").lower() == email:
            return {"user": user}
    raise SlackError("users_not_found")


def _users_info(ws: Workspace, args: Json) -> Json:
    return {"user": ws.user(args.get("user"))}


def _views_publish(ws: Workspace, args: Json) -> Json:
    user = ws.user(args.get("user_id"))["id"]
    ws.home[user] = ws.store_view(ws.checked_view(args, "home"), f"VH{user}")
    return {"view": ws.home[user]}


def _views_open(ws: Workspace, args: Json) -> Json:
    trigger = str(args.get("trigger_id") or "")
    if not trigger:
        raise SlackError("invalid_trigger_id")
    if trigger in ws.triggers_expired:
        raise SlackError("expired_trigger_id")
    if trigger in ws.triggers_used:
        raise SlackError("exchanged_trigger_id")
    view = ws.store_view(ws.checked_view(args, "modal"), f"V{next(ws.seq):08d}")
    ws.triggers_used.add(trigger)
    ws.views[view["id"]] = view
    return {"view": view}


def _views_update(ws: Workspace, args: Json) -> Json:
    view_id = args.get("view_id")
    external = args.get("external_id")
    if not view_id and external:
        view_id = next((k for k, v in ws.views.items() if v.get("external_id") == external), None)
    if not view_id or view_id not in ws.views:
        raise SlackError("not_found")
    ws.views[view_id] = ws.store_view(ws.checked_view(args, "modal"), view_id)
    return {"view": ws.views[view_id]}


def _get_upload_url(ws: Workspace, args: Json) -> Json:
    filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
    if not filename or not length.isdigit() or int(length) <= 0:
        raise SlackError("invalid_arguments", ["filename and a positive length are required"])
    file_id = f"F{next(ws.seq):08d}"
    token = hashlib.sha1(f"{file_id}:{ws.epoch}".encode()).hexdigest()[:16]
    ws.files[file_id] = FakeFile(file_id, filename, int(length))
    ws.uploads[token] = file_id
    return {"upload_url": f"{ws.root_url}/upload/v1/{token}", "file_id": file_id}


def _complete_upload(ws: Workspace, args: Json) -> Json:
    entries = args.get("files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments", ["files must be a JSON array of {id, title}"])
    found: list[FakeFile] = []
    for entry in entries:
        file = ws.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
        if file is None or file.content is None:  # never uploaded: Slack cannot find it either
            raise SlackError("file_not_found")
        found.append(file)
    channels = [c for c in [str(args.get("channel_id") or ""),
                            *str(args.get("channels") or "").split(",")] if c]
    shared = []
    for entry, file in zip(entries, found, strict=True):
        file.title = str(entry.get("title") or file.filename)
        file.channels, file.completed = channels, True
        file.initial_comment = str(args.get("initial_comment") or "")
        file.thread_ts = args.get("thread_ts") or None
        shared.append({"id": file.id, "name": file.filename, "title": file.title,
                       "size": file.length, "channels": channels})
    return {"files": shared}


def _usergroup_users(ws: Workspace, args: Json) -> Json:
    group_id = str(args.get("usergroup") or "")
    if not group_id:
        raise SlackError("invalid_arguments", ["missing required field: usergroup"])
    group = ws.usergroups.get(group_id)
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group["users"])}


METHODS: dict[str, Method] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.postEphemeral": _post_ephemeral,
    "chat.update": _update,
    "chat.delete": _delete,
    "conversations.open": _open_conversation,
    "users.lookupByEmail": _lookup_by_email,
    "users.info": _users_info,
    "views.publish": _views_publish,
    "views.open": _views_open,
    "views.update": _views_update,
    "files.getUploadURLExternal": _get_upload_url,
    "files.completeUploadExternal": _complete_upload,
    "usergroups.users.list": _usergroup_users,
}
