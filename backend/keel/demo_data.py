"""The demo organisation's CRM data, planned in memory: companies, people, deals with their stage history,
leads, tickets, activities and tasks. Everything comes from one seeded random generator and dates count
back from a fixed anchor, so the same anchor always gives the same plan (keel.demo writes it)."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

DEMO_SEED = 20240501
Owner = Literal["org_admin", "manager", "sales_rep", "sales_rep_2", "support"]
Target = Literal["account", "contact", "deal", "ticket"]

# (name, domain, country, industry)
COMPANIES = [
    ("Nordwind Logistik GmbH", "nordwind-logistik.de", "DE", "Logistics"),
    ("Brandt & Söhne Maschinenbau", "brandt-maschinenbau.de", "DE", "Manufacturing"),
    ("Helios Solartechnik AG", "helios-solartechnik.de", "DE", "Energy"),
    ("Kaiser Medizintechnik", "kaiser-medtech.de", "DE", "Healthcare"),
    ("Rheinblick Versicherungen", "rheinblick-versicherungen.de", "DE", "Financial Services"),
    ("Falkenberg Software", "falkenberg-software.de", "DE", "Software"),
    ("Stadtwerke Lindenau", "stadtwerke-lindenau.de", "DE", "Utilities"),
    ("Grünhof Bio-Lebensmittel", "gruenhof-bio.de", "DE", "Food & Beverage"),
    ("Eichenwald Bau GmbH", "eichenwald-bau.de", "DE", "Construction"),
    ("Alpenglanz Hotels", "alpenglanz-hotels.at", "AT", "Hospitality"),
    ("Donau Digital GmbH", "donau-digital.at", "AT", "Software"),
    ("Matterhorn Precision SA", "matterhorn-precision.ch", "CH", "Manufacturing"),
    ("Zürisee Treuhand AG", "zuerisee-treuhand.ch", "CH", "Financial Services"),
    ("Atelier Lumière", "atelier-lumiere.fr", "FR", "Media"),
    ("Vignobles Saint-Clair", "vignobles-saint-clair.fr", "FR", "Food & Beverage"),
    ("Transports Morel", "transports-morel.fr", "FR", "Logistics"),
    ("Santé Horizon", "sante-horizon.fr", "FR", "Healthcare"),
    ("Polderlicht BV", "polderlicht.nl", "NL", "Energy"),
    ("Grachtenhuis Media", "grachtenhuis.nl", "NL", "Media"),
    ("Van Dijk Bouw", "vandijk-bouw.nl", "NL", "Construction"),
    ("Maison Verhaegen", "maisonverhaegen.be", "BE", "Food & Beverage"),
    ("Scheldt Maritime", "scheldtmaritime.be", "BE", "Logistics"),
    ("Thistle & Rowan Ltd", "thistleandrowan.co.uk", "GB", "Retail"),
    ("Harbourside Analytics", "harbourside-analytics.co.uk", "GB", "Software"),
    ("Kestrel Engineering", "kestrel-engineering.co.uk", "GB", "Manufacturing"),
    ("Bramley Foods", "bramleyfoods.co.uk", "GB", "Food & Beverage"),
    ("Ashcombe Legal LLP", "ashcombelegal.co.uk", "GB", "Professional Services"),
    ("Quayside Hotels", "quaysidehotels.co.uk", "GB", "Hospitality"),
    ("Shannon Cloud Services", "shannoncloud.ie", "IE", "Software"),
    ("Liffey Pharma", "liffeypharma.ie", "IE", "Healthcare"),
    ("Cedar Ridge Health", "cedarridgehealth.com", "US", "Healthcare"),
    ("Bluebonnet Robotics", "bluebonnet-robotics.com", "US", "Manufacturing"),
    ("Lakeshore Outfitters", "lakeshoreoutfitters.com", "US", "Retail"),
    ("Summit Peak Capital", "summitpeakcapital.com", "US", "Financial Services"),
    ("Redwood Learning", "redwoodlearning.com", "US", "Education"),
    ("Mosaic Telecom", "mosaictelecom.com", "US", "Telecommunications"),
    ("Soluciones Ibéricas", "solucionesibericas.es", "ES", "Professional Services"),
    ("Costa Brava Resorts", "costabravaresorts.es", "ES", "Hospitality"),
    ("Officine Ferraretti", "officineferraretti.it", "IT", "Automotive"),
    ("Tessitura Bellini", "tessiturabellini.it", "IT", "Manufacturing"),
    ("Fjällbacka Design AB", "fjallbacka-design.se", "SE", "Retail"),
    ("Norrsken Energi", "norrsken-energi.se", "SE", "Energy"),
    ("Lindqvist Medical", "lindqvist-medical.se", "SE", "Healthcare"),
    ("Havn Logistics ApS", "havnlogistics.dk", "DK", "Logistics"),
    ("Kløver Software", "klover-software.dk", "DK", "Software"),
    ("Wisła Automotive", "wisla-automotive.pl", "PL", "Automotive"),
    ("Kraków Code House", "krakowcodehouse.pl", "PL", "Software"),
]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1001+"]
ACCOUNT_TAGS = ["enterprise", "partner", "vip", "reference-customer", "public-sector", "renewal-due"]

_PEOPLE = {
    "de": (
        "Anna Lukas Sophie Jonas Lena Felix Marie Paul Hannah Maximilian Julia Tobias Katharina Stefan",
        "Müller Schmidt Schneider Fischer Weber Becker Hoffmann Wagner Koch Richter Klein Wolf Schröder "
        "Neumann Braun Zimmermann",
    ),
    "fr": (
        "Camille Louis Chloé Hugo Manon Lucas Léa Antoine Juliette Nicolas Élodie Mathieu",
        "Martin Bernard Dubois Laurent Moreau Lefèvre Girard Roux Fontaine Chevalier Mercier Lambert",
    ),
    "nl": (
        "Daan Emma Sem Julia Lars Sanne Bram Fleur Thijs Lotte Jeroen Anouk",
        "Jansen Bakker Visser Smit Meijer Mulder Bos Vos Peters Dekker Hendriks Willems",
    ),
    "en": (
        "Oliver Emily James Charlotte William Amelia Jack Olivia Harry Sophia Daniel Grace Michael Megan",
        "Smith Johnson Williams Brown Taylor Davies Evans Wilson Thomas Roberts Walker Wright Hughes "
        "Clarke Murphy O'Brien",
    ),
    "es": (
        "Lucía Hugo Martina Pablo Sofía Alejandro Carmen Javier Elena Diego",
        "García Fernández López Martínez Sánchez Romero Navarro Torres Ruiz Molina",
    ),
    "it": (
        "Giulia Lorenzo Francesca Matteo Chiara Alessandro Sara Davide Elena Marco",
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco",
    ),
    "nordic": (
        "Elsa Oskar Maja Erik Astrid Nils Freja Magnus Ida Anders",
        "Andersson Johansson Lindberg Nilsson Larsen Nielsen Hansen Berg Lund Holm",
    ),
    "pl": (
        "Zofia Jakub Julia Kacper Maja Szymon Zuzanna Tomasz Agnieszka Piotr",
        "Nowak Wójcik Mazur Krawczyk Zając Król Wieczorek Kaczmarek Pawlak Michalak",
    ),
}
_REGION = {
    "DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "nl", "NL": "nl", "GB": "en", "US": "en",
    "IE": "en", "ES": "es", "IT": "it", "SE": "nordic", "DK": "nordic", "PL": "pl",
}  # fmt: skip
# Country code and area, then how many subscriber digits follow (GB, US: the ranges set aside for fiction).
_PHONES = {
    "DE": ("+49 30", 7), "AT": ("+43 1", 7), "CH": ("+41 44", 7), "FR": ("+33 1", 8), "NL": ("+31 20", 7),
    "BE": ("+32 2", 7), "GB": ("+44 20 7946 0", 3), "US": ("+1 415 555 01", 2), "IE": ("+353 1", 7),
    "ES": ("+34 91", 7), "IT": ("+39 02", 8), "SE": ("+46 8", 7), "DK": ("+45 33", 6), "PL": ("+48 22", 7),
}  # fmt: skip
_LEGAL_FORM = {
    "DE": "GmbH", "AT": "GmbH", "CH": "AG", "FR": "SAS", "NL": "BV", "BE": "NV", "GB": "Ltd", "US": "Inc.",
    "IE": "Ltd", "ES": "SL", "IT": "S.r.l.", "SE": "AB", "DK": "ApS", "PL": "Sp. z o.o.",
}  # fmt: skip
_TLD = {"GB": "co.uk", "US": "com"}
TITLES = [
    "CEO", "CFO", "CTO", "Head of Operations", "IT Director", "Procurement Manager", "Office Manager",
    "VP Sales", "Head of Finance", "Operations Manager", "Purchasing Lead", "Head of Customer Success",
]  # fmt: skip
_LEAD_WORDS = [
    "Alder", "Beacon", "Copper", "Driftwood", "Ember", "Foxglove", "Granite", "Harbor", "Ironwood", "Juniper",
    "Kingfisher", "Lumen", "Meridian", "Northgate", "Orchard", "Pinecrest", "Quartz", "Riverbend",
    "Silverline", "Tidewater", "Upland", "Vantage", "Willow",
]  # fmt: skip
_LEAD_KINDS = [
    "Systems", "Consulting", "Partners", "Labs", "Group", "Logistics", "Studios", "Solutions", "Analytics",
    "Works",
]  # fmt: skip
LEAD_SOURCES = ["web form", "webinar", "referral", "trade show", "LinkedIn", "partner", "cold call"]
DEAL_SOURCES = ["inbound", "referral", "outbound", "partner", "trade show", "webinar"]
PRODUCTS = [
    "Platform licence", "Annual renewal", "Expansion: 50 seats", "Pilot project", "Data migration",
    "Premium support", "Onboarding package", "Enterprise rollout", "Analytics add-on", "Multi-site rollout",
]  # fmt: skip
LOST_REASONS = [
    "Chose a competitor", "No budget this year", "Project postponed indefinitely",
    "Built it in house", "Price too high", "Never reached the decision maker",
]  # fmt: skip
DISQUALIFIED_REASONS = [
    "No budget", "Student project", "A competitor doing research", "Duplicate of an existing account",
    "Outside our market", "Unreachable after five attempts",
]  # fmt: skip
TICKETS = [
    ("Cannot sign in after a password reset", "high"), ("Invoice shows the wrong VAT number", "normal"),
    ("CSV export times out", "high"), ("Need two more admin seats", "low"),
    ("Reports load slowly in the morning", "normal"), ("Single sign-on fails for new staff", "urgent"),
    ("Wrong currency on the quote", "normal"), ("How do we archive old projects?", "low"),
    ("Mobile app crashes on start", "high"), ("Duplicate contacts after the import", "normal"),
    ("E-mail notifications arrive late", "normal"), ("API returns 429 during the nightly sync", "high"),
]  # fmt: skip
# Ticket statuses, and how many of each (an open ticket may still wait for its first answer).
TICKET_STATUSES = ["open"] * 6 + ["pending"] * 4 + ["solved"] * 8 + ["closed"] * 6
# Where each deal ends up, and how many: every stage of the default pipeline holds deals.
DEAL_STAGES = ["Qualification"] * 9 + ["Proposal"] * 11 + ["Negotiation"] * 9 + ["Won"] * 16 + ["Lost"] * 12
# Leads by status; the converted ones become an account, a contact and a deal each.
LEAD_STATUSES = ["new"] * 10 + ["working"] * 10 + ["qualified"] * 8 + ["disqualified"] * 9 + ["converted"] * 3
CONTACTS = 147  # plus one for each converted lead
_PATHS = {
    "Qualification": [["Qualification"]],
    "Proposal": [["Qualification", "Proposal"]],
    "Negotiation": [
        ["Qualification", "Proposal", "Negotiation"],
        ["Qualification", "Negotiation"],
        ["Qualification", "Proposal", "Negotiation", "Proposal", "Negotiation"],
    ],
    "Won": [["Qualification", "Proposal", "Negotiation", "Won"], ["Qualification", "Proposal", "Won"]],
    "Lost": [
        ["Qualification", "Lost"],
        ["Qualification", "Proposal", "Lost"],
        ["Qualification", "Proposal", "Negotiation", "Lost"],
    ],
}
_NOTES = {
    "note": [
        ("Procurement needs a security questionnaire", "<p>Their IT team sends it by Friday.</p>"),
        ("Decision after the board meeting", "<p>Budget is <strong>approved</strong> in principle.</p>"),
        ("Champion changing roles", "<p>Ask for an introduction to the new budget owner.</p>"),
    ],
    "call": [
        ("Discovery call", "<p>Walked through their current process and pain points.</p>"),
        ("Follow-up on pricing", "<p>They asked for a three-year option.</p>"),
        ("Check-in call", "<p>Rollout going well; two more teams interested.</p>"),
    ],
    "email": [
        ("Sent the proposal", "<p>Proposal and reference list attached.</p>"),
        ("Recap of our meeting", "<ul><li>Timeline agreed</li><li>Next: legal review</li></ul>"),
        ("Pricing details", "<p>Volume discount from 100 seats, as discussed.</p>"),
    ],
    "meeting": [
        (
            "Product demo with the team",
            "<p>Demo for operations and finance; good questions on reporting.</p>",
        ),
        ("On-site workshop", "<p>Mapped their approval workflow end to end.</p>"),
        ("Quarterly business review", "<p>Reviewed usage and the renewal plan.</p>"),
    ],
}
TASKS = [
    "Send the revised quote", "Book a follow-up demo", "Prepare the contract draft",
    "Call back about the renewal", "Share case studies", "Confirm the decision date",
    "Introduce our solutions engineer", "Chase the signed order",
]  # fmt: skip


@dataclass(frozen=True)
class AccountPlan:
    name: str
    domain: str
    country: str
    industry: str
    size: str
    lifecycle_stage: str
    tags: list[str]
    owner: Owner
    created_at: datetime


@dataclass(frozen=True)
class ContactPlan:
    first_name: str
    last_name: str
    title: str
    email: str
    phone: str
    accounts: list[int]  # indexes into the accounts, the primary one first
    owner: Owner
    created_at: datetime


@dataclass(frozen=True)
class DealPlan:
    name: str
    account: int
    contact: int  # the primary contact, one of the account's
    amount_minor: int
    currency: str
    source: str
    tags: list[str]
    expected_close_date: date
    moves: list[tuple[str, datetime]]  # each stage it entered, and when; the first is its creation
    lost_reason: str | None
    owner: Owner


@dataclass(frozen=True)
class DealTerms:
    name: str
    amount_minor: int
    currency: str
    expected_close_date: date


@dataclass(frozen=True)
class LeadPlan:
    first_name: str
    last_name: str
    company: str
    title: str
    email: str
    phone: str
    country: str
    source: str
    status: str
    disqualified_reason: str | None
    owner: Owner
    created_at: datetime
    updated_at: datetime
    deal: DealTerms | None  # the deal a converted lead opens


@dataclass(frozen=True)
class ActivityPlan:
    kind: str
    subject: str
    body: str
    owner: Owner  # the author
    links: dict[Target, int]  # what it is on: indexes into the plans of each record type
    occurred_at: datetime
    due_at: datetime | None = None
    done_at: datetime | None = None
    assignee: Owner | None = None


@dataclass(frozen=True)
class TicketPlan:
    subject: str
    description: str
    priority: str
    status: str
    account: int
    contact: int
    created_at: datetime
    reply: ActivityPlan | None  # its first response
    resolved_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class DemoData:
    accounts: list[AccountPlan]
    contacts: list[ContactPlan]
    deals: list[DealPlan]
    leads: list[LeadPlan]
    tickets: list[TicketPlan]
    activities: list[ActivityPlan]


def _ascii(text: str) -> str:
    """How a name is written in an e-mail address: `Jürgen O'Brien` → `juergenobrien`."""
    text = text.lower()
    for letter, spelled in {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "ø": "o",
        "ł": "l",
        "æ": "ae",
    }.items():
        text = text.replace(letter, spelled)
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain if c.isalnum())


def _currency(country: str) -> str:
    return {"US": "USD", "GB": "GBP"}.get(country, "EUR")


class _Planner:
    def __init__(self, anchor: datetime) -> None:
        self.rng = random.Random(DEMO_SEED)  # noqa: S311 - demo data, not secrets: it must repeat
        self.anchor = anchor

    def at(self, days_ago: int) -> datetime:
        """That many days before the anchor (a midnight), during office hours."""
        day = self.anchor - timedelta(days=days_ago)
        return day + timedelta(hours=self.rng.randint(8, 17), minutes=self.rng.randrange(0, 60, 5))

    def between(self, start: datetime, end: datetime) -> datetime:
        """A time during office hours between the two; their middle when they are hours apart."""
        first, last = (self.anchor - end).days + 1, (self.anchor - start).days
        moment = self.at(self.rng.randint(first, last)) if first <= last else start
        if not start < moment < end:
            moment = start + (end - start) / 2
        return moment.replace(second=0, microsecond=0)

    def person(self, country: str, domain: str, taken: set[str]) -> tuple[str, str, str, str]:
        firsts, lasts = _PEOPLE[_REGION[country]]
        while True:
            first, last = self.rng.choice(firsts.split()), self.rng.choice(lasts.split())
            email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
            if email not in taken:
                taken.add(email)
                break
        prefix, digits = _PHONES[country]
        number = str(self.rng.randint(2, 8)) + "".join(str(self.rng.randint(0, 9)) for _ in range(digits - 1))
        return first, last, email, f"{prefix} {number}"

    def amount(self, size: str) -> int:
        """In minor units, a round hundred in the major unit; bigger companies buy bigger."""
        low, high = {"1-10": (20, 80), "11-50": (40, 200), "51-200": (100, 600)}.get(size, (250, 2500))
        return self.rng.randint(low, high) * 100 * 100

    def moves(self, final: str) -> list[tuple[str, datetime]]:
        path = self.rng.choice(_PATHS[final])
        if len(path) == 1:
            return [(path[0], self.at(self.rng.randint(2, 60)))]
        closed = final in ("Won", "Lost")
        end = self.rng.randint(1, 150) if closed else self.rng.randint(1, 25)
        start = min(182, end + self.rng.randint(10 * len(path), 35 * len(path)))
        middle = sorted(self.rng.sample(range(end + 1, start), len(path) - 2), reverse=True)
        return [(stage, self.at(days)) for stage, days in zip(path, [start, *middle, end], strict=True)]


def build(anchor: datetime) -> DemoData:
    """The whole data set, its dates counted back from `anchor` (today at midnight, UTC)."""
    plan = _Planner(anchor)
    rng = plan.rng
    accounts_of: dict[Owner, int] = {"org_admin": 4, "manager": 10, "sales_rep": 17, "sales_rep_2": 16}
    owners = [who for who, count in accounts_of.items() for _ in range(count)]
    rng.shuffle(owners)
    sizes = [rng.choice(SIZES) for _ in COMPANIES]
    # Every account has a contact; the rest are spread unevenly, as in life.
    per_account = [1] * len(COMPANIES)
    for _ in range(CONTACTS - len(COMPANIES)):
        per_account[rng.randrange(len(COMPANIES))] += 1
    churned = set(rng.sample(range(len(COMPANIES)), 2))
    customers = set(rng.sample(sorted(set(range(len(COMPANIES))) - churned), 6))

    stages = list(DEAL_STAGES)
    rng.shuffle(stages)
    with_deals = [a for a in range(len(COMPANIES)) if a not in churned]
    deal_accounts = [rng.choice(with_deals) for _ in stages]
    histories = [plan.moves(stage) for stage in stages]
    first_deal: dict[int, datetime] = {}
    for a, history in zip(deal_accounts, histories, strict=True):
        first_deal[a] = min(first_deal.get(a, history[0][1]), history[0][1])

    accounts = []
    for a, (name, domain, country, industry) in enumerate(COMPANIES):
        created = plan.at(rng.randint(190, 400))
        if a in first_deal:
            created = min(created, first_deal[a] - timedelta(days=rng.randint(3, 20)))
        stage = "churned" if a in churned else "customer" if a in customers else "prospect"
        big = sizes[a] in ("201-1000", "1001+")
        tags = sorted({*rng.sample(ACCOUNT_TAGS[1:], rng.randint(0, 2)), *(["enterprise"] if big else [])})
        accounts.append(
            AccountPlan(name, domain, country, industry, sizes[a], stage, tags, owners[a], created)
        )

    contacts: list[ContactPlan] = []
    taken, at_account = set[str](), {a: list[int]() for a in range(len(accounts))}
    for a, account in enumerate(accounts):
        same_owner = [o for o, other in enumerate(accounts) if other.owner == account.owner and o != a]
        for _ in range(per_account[a]):
            first, last, email, phone = plan.person(account.country, account.domain, taken)
            # A few people work with two of their rep's accounts (a consultant, a group's buyer).
            linked = [a, rng.choice(same_owner)] if same_owner and rng.random() < 0.05 else [a]
            at_account[a].append(len(contacts))
            created = account.created_at + timedelta(hours=rng.randint(1, 48))
            title = rng.choice(TITLES)
            contacts.append(ContactPlan(first, last, title, email, phone, linked, account.owner, created))

    deals = []
    for stage, a, history in zip(stages, deal_accounts, histories, strict=True):
        account = accounts[a]
        closed = stage in ("Won", "Lost")
        closes = history[-1][1].date() if closed else anchor.date() + timedelta(days=rng.randint(-10, 120))
        deals.append(
            DealPlan(
                name=f"{account.name}: {rng.choice(PRODUCTS)}",
                account=a,
                contact=rng.choice(at_account[a]),
                amount_minor=plan.amount(account.size),
                currency=_currency(account.country),
                source=rng.choice(DEAL_SOURCES),
                tags=[rng.choice(["new-business", "upsell", "renewal"])],
                expected_close_date=closes,
                moves=history,
                lost_reason=rng.choice(LOST_REASONS) if stage == "Lost" else None,
                owner=account.owner,
            )
        )
    tickets = _tickets(plan, accounts, contacts, at_account, customers)
    return DemoData(
        accounts, contacts, deals, _leads(plan), tickets, _activities(plan, accounts, contacts, deals)
    )


def _leads(plan: _Planner) -> list[LeadPlan]:
    rng, leads = plan.rng, []
    statuses = list(LEAD_STATUSES)
    rng.shuffle(statuses)
    names = rng.sample([(w, k) for w in _LEAD_WORDS for k in _LEAD_KINDS], len(statuses))
    lead_owners: list[Owner] = ["sales_rep", "sales_rep_2", "manager"]
    for status, (word, kind) in zip(statuses, names, strict=True):
        country = rng.choice(sorted(_REGION))
        domain = f"{word}{kind}.{_TLD.get(country, country.lower())}".lower()
        first, last, email, phone = plan.person(country, domain, set())
        created = plan.at(rng.randint(2, 90))
        changed = created if status == "new" else created + timedelta(days=rng.randint(1, 10))
        closes = plan.anchor.date() + timedelta(days=rng.randint(30, 90))
        terms = DealTerms(
            f"{word} {kind}: {rng.choice(PRODUCTS)}",
            plan.amount(rng.choice(SIZES)),
            _currency(country),
            closes,
        )
        leads.append(
            LeadPlan(
                first_name=first,
                last_name=last,
                company=f"{word} {kind} {_LEGAL_FORM[country]}",
                title=rng.choice(TITLES),
                email=email,
                phone=phone,
                country=country,
                source=rng.choice(LEAD_SOURCES),
                status=status,
                disqualified_reason=rng.choice(DISQUALIFIED_REASONS) if status == "disqualified" else None,
                owner=rng.choice(lead_owners),
                created_at=created,
                updated_at=min(changed, plan.anchor - timedelta(hours=1)),
                deal=terms if status == "converted" else None,
            )
        )
    return leads


def _tickets(
    plan: _Planner,
    accounts: list[AccountPlan],
    contacts: list[ContactPlan],
    at_account: dict[int, list[int]],
    customers: set[int],
) -> list[TicketPlan]:
    rng, tickets = plan.rng, []
    for n, status in enumerate(TICKET_STATUSES):
        subject, priority = TICKETS[n % len(TICKETS)]
        a = rng.choice(sorted(customers)) if rng.random() < 0.6 else rng.randrange(len(accounts))
        c = rng.choice(at_account[a])
        days_ago = {"open": (1, 4), "pending": (3, 10)}.get(status, (12, 60))
        created = plan.at(rng.randint(*days_ago))
        reply = None
        if status != "open" or n % 3:  # a few open tickets still wait for their first answer
            waited = min(20 * 60, int((plan.anchor - created).total_seconds() // 60) - 10)
            answered = created + timedelta(minutes=rng.randint(15, waited))
            kind = rng.choice(["email", "call"])
            body = "<p>Thanks for telling us: we are looking into it and will update you today.</p>"
            reply = ActivityPlan(
                kind, f"Re: {subject}", body, "support", {"ticket": n, "contact": c}, answered
            )
        resolved = created + timedelta(days=rng.randint(1, 8)) if status in ("solved", "closed") else None
        closed = resolved + timedelta(days=rng.randint(1, 3)) if resolved and status == "closed" else None
        person = f"{contacts[c].first_name} {contacts[c].last_name}"
        description = f"{subject}. Reported by {person} ({contacts[c].email})."
        tickets.append(
            TicketPlan(subject, description, priority, status, a, c, created, reply, resolved, closed)
        )
    return tickets


def _activities(
    plan: _Planner, accounts: list[AccountPlan], contacts: list[ContactPlan], deals: list[DealPlan]
) -> list[ActivityPlan]:
    rng, anchor, activities = plan.rng, plan.anchor, []

    def on_deal(d: int) -> dict[Target, int]:
        return {"deal": d, "account": deals[d].account, "contact": deals[d].contact}

    for d, deal in enumerate(deals):
        open_ = deal.moves[-1][0] not in ("Won", "Lost")
        end = anchor - timedelta(hours=2) if open_ else deal.moves[-1][1]
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["call", "email", "meeting", "note"])
            subject, body = rng.choice(_NOTES[kind])
            when = plan.between(deal.moves[0][1], end)
            activities.append(ActivityPlan(kind, subject, body, deal.owner, on_deal(d), when))
    for a, account in enumerate(accounts):
        if rng.random() < 0.5:
            subject, body = rng.choice(_NOTES["note"])
            when = plan.between(account.created_at, anchor)
            activities.append(ActivityPlan("note", subject, body, account.owner, {"account": a}, when))
    for c in rng.sample(range(len(contacts)), 20):
        subject, body = rng.choice(_NOTES["call"])
        when = plan.between(contacts[c].created_at, anchor)
        activities.append(ActivityPlan("call", subject, body, contacts[c].owner, {"contact": c}, when))

    open_deals = [d for d, deal in enumerate(deals) if deal.moves[-1][0] not in ("Won", "Lost")]
    older = [d for d in open_deals if deals[d].moves[0][1] < anchor - timedelta(days=20)]
    of_reps = [d for d in older if deals[d].owner in ("sales_rep", "sales_rep_2")]
    for n, state in enumerate(["done"] * 15 + ["due"] * 13 + ["overdue"] * 12):
        by_manager = n % 10 == 3  # the Manager sets a few for a rep, on the rep's deal
        d = rng.choice(of_reps if by_manager else open_deals if state == "due" else older)
        start, done = deals[d].moves[0][1], None
        if state == "due":
            due = plan.at(-rng.randint(1, 21))
            created = max(start, plan.at(rng.randint(1, 10)))
        elif state == "overdue":
            due = plan.at(rng.randint(1, 14))
            created = max(start, due - timedelta(days=rng.randint(3, 14)))
        else:
            created = plan.between(start, anchor - timedelta(days=12))
            due = plan.at((anchor - created).days - rng.randint(1, 10))
            done = (created + (due - created) * rng.uniform(0.3, 1.0)).replace(second=0, microsecond=0)
        author: Owner = "manager" if by_manager else deals[d].owner
        task = ActivityPlan(
            "task", rng.choice(TASKS), "", author, on_deal(d), created, due, done, deals[d].owner
        )
        activities.append(task)
    return activities
