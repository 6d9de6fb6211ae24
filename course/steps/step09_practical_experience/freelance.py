"""A small freelance job: a statement of work, a fixed-price quote and the clauses to read (deep dive 09b).

No market figure lives here: every number a quote uses (hours, the rate, the buffer, the deposit) is the
learner's own input, and :func:`quote` only does the arithmetic. :data:`SOW_SECTIONS` are the parts of a
written statement of work; :func:`missing_sections` lists those a draft lacks. :data:`CONTRACT_CLAUSES` says
what each usual clause of a small contract decides, so a learner knows what to read and ask about; it is not
legal advice, and the law that applies depends on the country.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Quote", "quote", "SOW_SECTIONS", "missing_sections", "CONTRACT_CLAUSES"]


@dataclass(frozen=True)
class Quote:
    """A fixed price worked out from an estimate: every figure follows from the inputs."""

    hours: float            # the estimate, task by task, added up
    buffered_hours: float   # with the buffer for what the estimate does not know yet
    price: int              # buffered hours times the rate, plus costs, rounded up to a whole unit
    deposit: int            # paid before work starts
    balance: int            # paid on acceptance

    def lines(self, currency: str = "") -> list[str]:
        unit = f" {currency}" if currency else ""
        return [f"estimate {self.hours:g} h, with the buffer {self.buffered_hours:g} h",
                f"fixed price {self.price}{unit}: {self.deposit}{unit} on signature, {self.balance}{unit} on acceptance"]


def quote(tasks: dict[str, float], hourly_rate: float, *, buffer: float = 0.25, costs: float = 0,
          deposit_share: float = 0.3) -> Quote:
    """A fixed-price quote: the tasks' hours plus ``buffer`` (a share: 0.25 is 25 %), times ``hourly_rate``,
    plus ``costs`` (hosting, licences), rounded **up** to a whole unit; ``deposit_share`` of it up front
    (rounded up too), the rest on acceptance. Each number is taken as written (:func:`_exact`), so no float
    error rounds a price up: in floats 0.1 + 0.2 is 0.30000000000000004."""
    if not tasks or any(hours <= 0 for hours in tasks.values()):
        raise ValueError("every task needs a positive number of hours")
    if hourly_rate <= 0 or buffer < 0 or costs < 0 or not 0 <= deposit_share <= 1:
        raise ValueError("the rate must be positive, the buffer and costs not negative, the deposit a share")
    hours = sum(_exact(hours) for hours in tasks.values())
    buffered = hours * (1 + _exact(buffer))
    price = math.ceil(buffered * _exact(hourly_rate) + _exact(costs))
    deposit = math.ceil(price * _exact(deposit_share))
    return Quote(hours=float(hours), buffered_hours=float(buffered), price=price, deposit=deposit,
                 balance=price - deposit)


def _exact(number: float) -> Decimal:
    """A number as written: ``Decimal(str(0.1))`` is 0.1, where ``Decimal(0.1)`` keeps the float's error."""
    return Decimal(str(number))


# The sections of a statement of work, and what each must say.
SOW_SECTIONS = {
    "Goal": "what the client gets, in one or two sentences, in their words",
    "Deliverables": "each thing handed over: code in their repository, a deployed service, documentation",
    "Out of scope": "what is not included, said out loud, so it is a change request later and not a quarrel",
    "Acceptance criteria": "checks both sides can run: 'GET /export?month=2026-11 returns a CSV of that month's "
                           "orders in under 2 s on the staging data'",
    "Timeline": "dates for the milestones, and what the client must provide by when (access, data, answers)",
    "Price and payment": "fixed or hourly, deposit, when each payment is due, and how a change request is priced",
    "Change requests": "how new work is asked for, estimated and agreed in writing before it is done",
}


def missing_sections(draft: str) -> list[str]:
    """The :data:`SOW_SECTIONS` a draft has no heading for (``## Goal``, ``Goal:``, any letter case)."""
    found = {m.strip().lower() for m in re.findall(r"^(?:#+\s*)?([A-Za-z ]+?)\s*:?\s*$", draft, re.M)}
    found |= {m.strip().lower() for m in re.findall(r"^([A-Za-z ]+):", draft, re.M)}
    return [name for name in SOW_SECTIONS if name.lower() not in found]


# What each usual clause decides (not legal advice: the law of the country applies, and a lawyer reads a
# contract whose stakes are high).
CONTRACT_CLAUSES = {
    "Scope": "the statement of work is part of the contract; anything else is a change request",
    "Payment terms": "amounts, due dates (say, 14 days after the invoice), late-payment terms, the deposit",
    "Intellectual property": "who owns the code and from when (for example: from full payment); "
                             "what you keep (your own libraries, tools written before)",
    "Liability": "a cap on what you owe if something goes wrong (for example, the price of the job), and what is excluded",
    "Confidentiality": "what of the client's data and code you may not disclose, and for how long",
    "Termination": "how either side ends the work early, and what is paid for the work done until then",
}
