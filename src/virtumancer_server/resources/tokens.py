"""API tokens: ``/api/v1/tokens`` (list, create) and ``/api/v1/tokens/{token_id}`` (revoke)."""

from __future__ import annotations

import falcon
import falcon.asgi

from virtumancer import ConflictError, Virtumancer
from virtumancer_server.errors import FieldConflictError
from virtumancer_server.resources._common import Json, read_json_object, require_str

__all__ = ["TokenResource", "TokensResource"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class TokensResource:
    """``GET`` lists tokens (never a secret); ``POST {name, role, expires_at?}`` creates one.

    The 201 body is the only place the new token's ``secret`` is ever shown.
    """

    def __init__(self, manager: Virtumancer, json: Json, max_body_bytes: int) -> None:
        self._vm = manager
        self._json = json
        self._max_body = max_body_bytes

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_tokens())

    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json_object(req, self._max_body)
        name = require_str(body, "name")
        role = require_str(body, "role")
        try:
            created = await self._vm.create_token(name, role, expires_at=body.get("expires_at"))
        except ConflictError as exc:
            raise FieldConflictError(exc.message, field="name") from exc
        resp.cache_control = ["no-store"]
        self._json.send(resp, created, status=201)


class TokenResource:
    """``DELETE /api/v1/tokens/{token_id}``: revoke (204; 404 for an unknown id)."""

    def __init__(self, manager: Virtumancer) -> None:
        self._vm = manager

    async def on_delete(self, req: Request, resp: Response, token_id: str) -> None:
        await self._vm.revoke_token(token_id)
        resp.status = falcon.HTTP_204
