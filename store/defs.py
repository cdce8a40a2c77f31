"""Writing what gateways read: the definitions document, codes kept outside it, API keys.

Definitions are written with a version bump and a notice in one MULTI/EXEC, so a reader that
sees the notice also sees the document. Key names: :mod:`store.keys`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core import model as m

from . import codebook
from .auth import ROLES, token_hash
from .keys import Keys

_enc = msgspec.json.Encoder()


def publish_definitions_sync(client: Any, prefix: str, defs: m.Definitions) -> int:
    """Store ``defs`` as the next version and notify gateways (sync client). Returns the version.

    The version and the document change in one MULTI/EXEC (WATCHing the version, retried if
    another writer moved it), as admin's own writes do: a reader never sees a new version number
    beside the previous document, which it would take for the new one.
    """
    k = Keys(prefix)
    out: list[int] = []

    def write(pipe: Any) -> None:
        version = int(pipe.get(k.version) or 0) + 1
        pipe.multi()
        pipe.set(k.version, version)
        pipe.set(k.defs, _enc.encode(msgspec.structs.replace(defs, version=version)))
        pipe.publish(k.channel, str(version))
        out[:] = [version]

    client.transaction(write, k.version)
    return out[0]


def put_codes_sync(client: Any, prefix: str, vouchers: list[m.Voucher]) -> None:
    """Store codes kept outside the definitions document and tell gateways to drop stale copies."""
    k = Keys(prefix)
    for camp in {v.campaign_id for v in vouchers if v.campaign_id}:
        codebook.ref_sync(client, k, camp)  # its codes stored compact (store/codebook.py)
    pipe = client.pipeline(transaction=False)
    for v in vouchers:
        codebook.put(pipe, k, v.code, v)
        pipe.publish(k.channel, "code:" + v.code)
    pipe.execute()


def put_app_key_sync(client: Any, prefix: str, key_id: str, token: str, role: str, name: str = "") -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    client.hset(
        Keys(prefix).appkey(key_id),
        mapping={"token_sha256": token_hash(token), "role": role, "name": name or key_id},
    )
    client.publish(Keys(prefix).channel, "appkey:" + key_id)
