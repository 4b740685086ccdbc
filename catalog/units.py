"""What a model can be priced per: the one list of price units, and ``Prices``, a model's
price for each of them.

Adding a unit is one entry in ``PRICE_UNITS``: the model gets a ``price_<name>`` column (a
migration adds it), ``Prices`` an attribute, the admin a column, the catalog JSON a
``pricing`` key and ``/v1/models`` a price. Billing then needs how much of it a request used:
a ``Usage`` field and its line in ``billing.pricing._quantities``, which refuses to import
without one.

Registry prices are USD: per 1M tokens for token units, which is exactly credits per token
(1,000,000 credits = 1 USD), and per unit otherwise (a request, an image, a second).
``Prices`` holds credits per token or per unit, ``Decimal``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PriceUnit:
    """One thing a model is priced per.

    ``name`` is the attribute of ``Prices``, the key of a request's price snapshot and
    cost breakdown, and (as ``catalog_key``) of the catalog JSON's ``pricing`` object;
    ``api_key`` is its key in ``/v1/models`` ``pricing`` and ``pricing_credits``. A unit
    ``is_always_listed`` (the five units there were before any other) is always shown: in
    ``/v1/models`` and a request's price snapshot even at zero, in the catalog export even
    when null; the others appear only when the model sets a price for them. A null price
    falls back to the ``fallback_setting`` (credits per token), or to the price of
    ``fallback_unit``, or else is zero.
    """

    name: str
    catalog_key: str
    api_key: str
    label: str
    is_per_token: bool
    is_always_listed: bool = False
    fallback_setting: str = ""
    fallback_unit: str = ""

    @property
    def column(self) -> str:
        """The ``catalog.Model`` field holding the registry price (USD)."""
        return f"price_{self.name}"


PRICE_UNITS: tuple[PriceUnit, ...] = (
    PriceUnit(
        "prompt",
        "prompt",
        "prompt",
        "prompt USD / 1M tokens",
        is_per_token=True,
        is_always_listed=True,
        fallback_setting="BILLING_FALLBACK_PROMPT_PRICE",
    ),
    PriceUnit(
        "completion",
        "completion",
        "completion",
        "completion USD / 1M tokens",
        is_per_token=True,
        is_always_listed=True,
        fallback_setting="BILLING_FALLBACK_COMPLETION_PRICE",
    ),
    PriceUnit(
        "cache_read",
        "cache_read",
        "input_cache_read",
        "cache read USD / 1M tokens",
        is_per_token=True,
        is_always_listed=True,
        fallback_unit="prompt",
    ),
    PriceUnit(
        "cache_write",
        "cache_write",
        "input_cache_write",
        "cache write USD / 1M tokens",
        is_per_token=True,
    ),
    PriceUnit(
        "request",
        "request",
        "request",
        "USD per request",
        is_per_token=False,
        is_always_listed=True,
    ),
    PriceUnit(
        "image", "image", "image", "USD per image", is_per_token=False, is_always_listed=True
    ),
    PriceUnit(
        "video_second", "video_second", "video_second", "USD per video second", is_per_token=False
    ),
    PriceUnit(
        "audio_second", "audio_second", "audio_second", "USD per audio second", is_per_token=False
    ),
)
UNIT_NAMES: tuple[str, ...] = tuple(u.name for u in PRICE_UNITS)
# The output modalities of a media model: priced by image, second and request, never given
# the fallback token prices (catalog.selectors).
MEDIA_OUTPUTS: tuple[str, ...] = ("image", "video", "audio")


def is_media(output_modalities: tuple[str, ...] | list[str]) -> bool:
    """Whether a model with these output modalities is a media model."""
    return any(m in MEDIA_OUTPUTS for m in output_modalities)


UNITS_BY_NAME: dict[str, PriceUnit] = {u.name: u for u in PRICE_UNITS}


def decimal_text(value: Decimal) -> str:
    """A price or amount as text: positional, no trailing zeros ("0.00000132", "1.5", "0"),
    where ``str()`` of a database decimal gives "1.500000000" or "0E-9"."""
    return "0" if not value else format(value.normalize(), "f")


@functools.lru_cache(maxsize=64)
def listed_units(present: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the units to show for a model pricing the units named in ``present``:
    those always listed, and the others it prices, in ``PRICE_UNITS`` order."""
    return tuple(u.name for u in PRICE_UNITS if u.is_always_listed or u.name in present)


class _PricesMethods:
    """The behaviour of ``Prices`` (its fields come from ``PRICE_UNITS``)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        present = tuple((name, getattr(self, name)) for name in UNIT_NAMES if getattr(self, name))
        object.__setattr__(self, "present", present)
        shown = listed_units(tuple(name for name, _ in present))
        object.__setattr__(self, "shown", shown)
        text = {name: decimal_text(getattr(self, name)) for name in shown}
        object.__setattr__(self, "text", text)

    @property
    def is_free(self) -> bool:
        return not self.present  # type: ignore[attr-defined]

    def listed(self) -> tuple[tuple[PriceUnit, Decimal], ...]:
        """``(unit, price)`` of the units to show: those always listed, and the others
        priced, in ``PRICE_UNITS`` order."""
        return tuple((UNITS_BY_NAME[name], getattr(self, name)) for name in self.shown)  # type: ignore[attr-defined]

    def as_dict(self) -> dict[str, str]:
        """The snapshot a request's record keeps: formatted once, when the prices are made
        (a model's prices are the same object for every request of a catalog snapshot)."""
        return dict(self.text)  # type: ignore[attr-defined]


Prices = dataclasses.make_dataclass(
    "Prices",
    [(name, Decimal, dataclasses.field(default=ZERO)) for name in UNIT_NAMES]
    + [
        ("present", tuple, dataclasses.field(init=False, repr=False, compare=False)),
        ("shown", tuple, dataclasses.field(init=False, repr=False, compare=False)),
        ("text", dict, dataclasses.field(init=False, repr=False, compare=False)),
    ],
    bases=(_PricesMethods,),
    frozen=True,
    slots=True,
)
Prices.__module__ = __name__
Prices.__doc__ = """Credits per token (prompt, completion, cache_read, cache_write) and credits
per unit (request, image, video_second, audio_second) for each of ``PRICE_UNITS``, zero
when not priced. 1,000,000 credits = 1 USD. ``present`` holds ``(name, price)`` of the
units priced above zero, in ``PRICE_UNITS`` order: what a request's cost iterates; ``shown``
the names of the units its snapshot, breakdown and listing show (``listed_units``)."""
