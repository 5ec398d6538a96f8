"""Stream schemas (SDK typing helpers) and the PII/secret fields each stream drops by default."""

from __future__ import annotations

import copy

from singer_sdk import singerlib as singer
from singer_sdk import typing as th

# Money: exact decimal strings. Precision and scale travel as `x-sql-datatype-properties`, a key the SDK's
# catalog model keeps (top-level `precision`/`scale` would be dropped on the way to the SCHEMA message).
MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "x-sql-datatype": "decimal",
         "x-sql-datatype-properties": {"precision": 18, "scale": 2}}


def _p(name: str, kind: th.JSONTypeHelper | type[th.JSONTypeHelper]) -> th.Property:
    return th.Property(name, kind)


def _money(*names: str) -> list[th.Property]:
    return [th.Property(name, th.CustomType(MONEY)) for name in names]


def _dates(*names: str) -> list[th.Property]:
    return [th.Property(name, th.DateTimeType) for name in names]


def _ints(*names: str) -> list[th.Property]:
    return [th.Property(name, th.IntegerType) for name in names]


def _strs(*names: str) -> list[th.Property]:
    return [th.Property(name, th.StringType) for name in names]


FREE_OBJECT = th.ObjectType(additional_properties=True)
ANY_ARRAY = th.ArrayType(th.AnyType)
UTM = th.ObjectType(*_strs("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"))
TIMESTAMPS = _dates("created_at", "updated_at", "deleted_at")

PRICE = th.ObjectType(
    _p("id", th.IntegerType), *_money("default_price"), _p("color_theme", th.StringType),
    _p("modifiers", ANY_ARRAY),
)

EVENTS = th.PropertiesList(
    *_ints("id", "is_active", "scheme_id", "city_id", "ticket_id", "mail_template_id", "event_type_id"),
    *_strs("name", "currency_id", "place_name", "place_address", "place_description", "description",
           "site_url", "external_id", "age", "slug", "url", "city_name", "city_timezone"),
    _p("city", th.ObjectType(_p("id", th.IntegerType), *_strs("name", "timezone"))),
    _p("poster", th.ObjectType(_p("id", th.IntegerType), *_strs("content_type", "url"),
                               _p("file_size", th.IntegerType))),
    _p("place_coordinates", th.ArrayType(th.NumberType)),
    _p("shows_count", th.IntegerType),
    *TIMESTAMPS,
)

SHOWS = th.PropertiesList(
    *_ints("id", "event_id", "is_active"),
    _p("name", th.StringType),
    *_dates("sale_start_date", "sale_finish_date", "open_date", "start_date", "finish_date"),
    _p("prices", th.ArrayType(PRICE)),
    _p("min_price", PRICE),
    _p("max_price", PRICE),
    *TIMESTAMPS,
)

ORDERS = th.PropertiesList(
    *_ints("id", "client_id", "site_id", "payment_id", "basket_user_id", "backend_user_id",
           "access_code_id", "discount_id", "promo_code_id", "event_id", "tickets_count"),
    _p("payed", th.BooleanType),
    *_dates("payed_at", "reserved_to"),
    _p("reserved", th.BooleanType),
    _p("reserve_extended", th.BooleanType),
    *_strs("uniqid", "payment_type_id", "payment_card_number", "payment_url", "cancel_url", "currency_id"),
    _p("client", th.ObjectType(
        _p("id", th.IntegerType), _p("email", th.StringType),
        _p("details", th.ObjectType(_p("id", th.IntegerType), *_strs(
            "name", "middlename", "surname", "phone", "vk_id", "facebook_id"))),
    )),
    _p("site", th.ObjectType(_p("id", th.IntegerType), _p("host", th.StringType))),
    *_money("price", "original_price"),
    _p("utm", UTM),
    _p("custom", FREE_OBJECT),
    _p("fields", FREE_OBJECT),
    _p("integrations", FREE_OBJECT),
    _p("refunds", ANY_ARRAY),
    *TIMESTAMPS,
)

SALES = th.PropertiesList(
    *_ints("id", "order_id", "event_id", "show_id", "quantity", "client_id", "promo_code_id", "discount_id"),
    *_strs("seat_id", "zone_id", "seat_name", "series", "barcode", "multiprice_code", "currency_id",
           "client_email", "client_phone", "client_name", "client_surname", "client_middlename",
           "organization_name", "legal_name", "work_position", "inn", "kpp", "comment",
           "pdf_url", "passbook_url"),
    *_money("original_price", "ticket_original_price", "discount_value", "price", "ticket_amount",
            "service_fee_amount", "refunded_amount", "refunded_deduction_amount"),
    _p("payed", th.BooleanType),
    *_dates("payed_at", "order_created_at", "order_updated_at", "order_deleted_at", "checked_at",
            "refunded_at"),
    _p("utm", UTM),
    _p("related_baskets", ANY_ARRAY),
    _p("services", ANY_ARRAY),
    _p("refunds", ANY_ARRAY),
    *TIMESTAMPS,
)

INVENTORY = th.PropertiesList(
    _p("show_id", th.IntegerType),
    _p("event_id", th.IntegerType),
    _p("zone_id", th.StringType),
    _p("snapshot_at", th.DateTimeType),
    *_ints("capacity", "free", "sold", "held", "disabled", "seats"),
)

CLIENTS = th.PropertiesList(
    _p("id", th.IntegerType),
    _p("email", th.StringType),
    _p("details", th.ObjectType(_p("id", th.IntegerType), *_strs(
        "name", "middlename", "surname", "phone", "vk_id", "facebook_id"))),
)

DISCOUNTS = th.PropertiesList(
    *_ints("id", "is_active"),
    *_strs("name", "type"),
    *_dates("active_from", "active_to"),
    _p("events", th.ArrayType(th.ObjectType(*_ints("id", "is_active"), _p("name", th.StringType),
                                            *_dates("deleted_at")))),
    _p("shows", th.ArrayType(th.ObjectType(
        *_ints("id", "is_active", "event_id"),
        *_dates("sale_start_date", "sale_finish_date", "open_date", "start_date", "finish_date"),
        *TIMESTAMPS,
    ))),
    *TIMESTAMPS,
)

PROMO_CODES = th.PropertiesList(
    *_ints("id", "is_active", "type", "discount_id", "max_uses_count"),
    _p("code", th.StringType),
    *_dates("active_from", "active_to"),
    *TIMESTAMPS,
)

COLOR_THEMES = th.PropertiesList(_p("id", th.IntegerType), _p("color", th.StringType))

SCHEMAS: dict[str, th.PropertiesList] = {
    "events": EVENTS, "shows": SHOWS, "orders": ORDERS, "sales": SALES, "inventory": INVENTORY,
    "clients": CLIENTS, "discounts": DISCOUNTS, "promo_codes": PROMO_CODES, "color_themes": COLOR_THEMES,
}

# Buyer/holder e-mails, phones, names, card masks, barcodes, promo codes and secret links.
PII_FIELDS: dict[str, frozenset[str]] = {
    "orders": frozenset({"client", "payment_card_number", "payment_url", "cancel_url", "uniqid", "fields"}),
    "sales": frozenset({"barcode", "client_email", "client_phone", "client_name", "client_surname",
                        "client_middlename", "organization_name", "legal_name", "work_position", "inn",
                        "kpp", "comment", "pdf_url", "passbook_url"}),
    "clients": frozenset({"email", "details"}),
    "promo_codes": frozenset({"code"}),
}


# Every record carries the account it comes from (several accounts may load into one warehouse, and their
# ids are not known to be unique across accounts): a property of every stream and the last of its keys.
ACCOUNT = "account"
ACCOUNT_PATTERN = r"^[A-Za-z0-9_-]+$"
DEFAULT_ACCOUNT = "main"


def account_property(account: str) -> dict:
    return {"type": "string", "default": account}


def mark_account(entry: singer.CatalogEntry, account: str) -> None:
    """An input catalog's stream carries this account: the property, with this account as its default (a
    catalog may come from a discovery with another account, or from before accounts), and the last key."""
    if entry.schema.properties is not None:
        entry.schema.properties[ACCOUNT] = singer.Schema.from_dict(account_property(account))
    keys = [key for key in entry.key_properties or () if key != ACCOUNT]
    if keys:
        entry.key_properties = [*keys, ACCOUNT]


def stream_schema(name: str, account: str = DEFAULT_ACCOUNT) -> dict:
    """JSON schema of a stream, every property (PII included: `mark_pii` keeps it from being selected),
    plus `account`, whose `default` is this account: the value rows loaded before it existed take."""
    schema = copy.deepcopy(SCHEMAS[name].to_dict())
    schema["properties"][ACCOUNT] = account_property(account)
    return schema


def mark_pii(metadata: singer.MetadataMapping, stream: str, *, include_pii: bool) -> singer.MetadataMapping:
    """Unless `include_pii`, the stream's PII properties become `inclusion: unsupported` (never selected,
    whatever a catalog says); with it they are ordinary available properties."""
    for field in PII_FIELDS.get(stream, ()):
        entry = metadata.get(("properties", field))
        if entry is None:
            continue
        if include_pii:
            if entry.inclusion == singer.Metadata.InclusionType.UNSUPPORTED:
                entry.inclusion = singer.Metadata.InclusionType.AVAILABLE
        else:
            entry.inclusion = singer.Metadata.InclusionType.UNSUPPORTED
            entry.selected_by_default = False
    return metadata


def selected_schema(schema: dict, mask: singer.SelectionMask, breadcrumb: tuple = ()) -> dict:
    """`schema` without the properties `mask` (a stream's selection mask) leaves out, at any depth."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    kept = {}
    for name, prop in properties.items():
        path = (*breadcrumb, "properties", name)
        if mask[path]:  # a breadcrumb the mask does not list inherits its parent's selection
            kept[name] = selected_schema(prop, mask, path) if isinstance(prop, dict) else prop
    return {**schema, "properties": kept}
