"""Redis keys the admin service owns, beside the shared layout of :mod:`gateway.defstore`.

``P`` is the key prefix (``PROMOGATE_KEY_PREFIX``, default ``pg:``).

================================  ==============================================================
``Pdefs`` / ``Pdefs:version``     the definitions document and its version (gateway.defstore)
``Pcode:<CODE>``                  a code kept outside the document (bulk / issued codes)
``Pappkey:<id>``                  an API key (gateway.defstore)
``Padmin:meta``                   JSON :class:`admin.repo.Meta`: what the admin API shows beside
                                  the definitions (created / updated times, descriptions,
                                  ``vouchers_count``...); written in the same transaction as
                                  ``Pdefs``
``Padmin:defs_stamp``              random, rewritten with every admin write of ``Pdefs``: with
                                  the version, what the admin's definitions cache is keyed on
                                  (a version can repeat when a prefix is wiped; a stamp cannot)
``Pcampcodes:<campaign id>``      list of the codes of a campaign kept outside the document
``Pcampgone:<campaign id>``       set (ms) in the transaction that deletes the campaign and kept:
                                  code writers check it atomically, so no code of a deleted
                                  campaign is stored after its deletion's clean-up began
``Paction:<id>``                  hash: an async action (bulk generation, import, delete)
``Pactions``                      zset: async action ids by creation time (ms)
``Pactions:running``              set: async actions to resume if the admin process stopped
``Pcustomer:<id>``                JSON: a customer (Voucherify shape plus ``segments``)
``Pcustomer:src:<source_id>``     string: the customer id of a ``source_id``
``Pcustomers``                    zset: customer ids by creation time (ms)
``Pcustcodes:<customer key>``     set: codes issued to a customer (key = source_id or id)
``Psegment:<id>``                 JSON: a static segment
``Psegments``                     zset: segment ids by creation time
``Pkeys``                         zset: API key ids by creation time (the keys themselves are
                                  ``Pappkey:<id>`` hashes)
``Paudit``                        stream: the audit trail (append-only, see admin.audit)
``Pledger``                       stream: the redemption ledger (written by the gateway)
``Prd:<id>``                      hash: a redemption record (written by the gateway)
================================  ==============================================================
"""

from __future__ import annotations

from gateway.defstore import Keys


class AdminKeys(Keys):
    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        self.meta = prefix + "admin:meta"
        self.defs_stamp = prefix + "admin:defs_stamp"
        self.actions = prefix + "actions"
        self.actions_running = prefix + "actions:running"
        self.customers = prefix + "customers"
        self.segments = prefix + "segments"
        self.keys_index = prefix + "keys"
        self.audit = prefix + "audit"
        self.ledger = prefix + "ledger"

    def list_codes(self, campaign_id: str) -> str:
        return f"{self.prefix}campcodes:{campaign_id}"

    def campaign_gone(self, campaign_id: str) -> str:
        return f"{self.prefix}campgone:{campaign_id}"

    def action(self, action_id: str) -> str:
        return f"{self.prefix}action:{action_id}"

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}customer:{customer_id}"

    def customer_src(self, source_id: str) -> str:
        return f"{self.prefix}customer:src:{source_id}"

    def customer_codes(self, customer_key: str) -> str:
        return f"{self.prefix}custcodes:{customer_key}"

    def segment(self, segment_id: str) -> str:
        return f"{self.prefix}segment:{segment_id}"

    def record(self, redemption_id: str) -> str:
        return f"{self.prefix}rd:{redemption_id}"

    def counter(self, logical: str) -> str:
        return self.prefix + logical
