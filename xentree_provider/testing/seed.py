"""Deterministic sandbox data, built from :class:`SandboxConfig` (pure Python, no I/O).

Every value comes from ``random.Random`` instances seeded from the config seed, or from hashes of the
seed, so two worlds built from the same config are identical. Transcript turns are not stored: they
are regenerated from the transcript id on demand, which keeps 50,000 transcripts cheap.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from xentree_provider.api.timestamps import parse_timestamp as parse_api_timestamp
from xentree_provider.testing.config import SandboxConfig

US = 1_000_000
DAY_US = 86_400 * US

ALL_SCOPES: tuple[str, ...] = (
    "conversations:read",
    "conversations:write",
    "rag:read",
    "rag:write",
    "live:read",
    "live:write",
    "organizations:read",
    "organizations:write",
    "integrations:read",
    "integrations:write",
    "xel:read",
    "xel:write",
)
READ_SCOPES: tuple[str, ...] = tuple(s for s in ALL_SCOPES if s.endswith(":read"))
#: API keys seeded for the primary user and the first organization, by name.
KEY_SCOPES: dict[str, tuple[str, ...]] = {
    "full": ALL_SCOPES,
    "readonly": READ_SCOPES,
    "live": ("live:read",),
    "orgs_read": ("organizations:read",),
    "orgs_write": ("organizations:read", "organizations:write"),
    "xel": ("xel:read", "xel:write"),
    "rag": ("rag:read",),
}
#: The key the sandbox offers for demos: every scope, and every seeded organization (not only the first).
DEMO_KEY_NAME = "demo"
ROLES: tuple[str, ...] = ("owner", "admin", "manager", "member")
CEFR: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2")
SKILLS: tuple[str, ...] = ("speaking", "writing", "listening", "reading", "vocabulary")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    """
    Grace Alan Katherine Linus Margaret Dennis Barbara Ken Frances Edsger Radia Donald Hedy John
    Sophie Tim Mary Guido Jean Niklaus Annie Claude Shafi Leslie Fei Yukihiro Carol Bjarne Adele
    James Evelyn Brian Joan Robin Lynn Ivan Hannah Omar Priya Kofi
    """
)
_LAST = _words(
    """
    Hopper Turing Johnson Torvalds Hamilton Ritchie Liskov Thompson Allen Dijkstra Perlman Knuth
    Lamarr Backus Wilson Berners Keller Rossum Sammet Wirth Easley Shannon Goldwasser Lamport Li
    Matsumoto Shaw Stroustrup Goldberg Gosling Berezin Kernighan Clarke Milner Conway Sutherland
    Fry Haddad Raman Mensah
    """
)
_ORGS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "Acme Learning",
        "acme",
        "Workspace for team learning and collaboration",
        ("Platform", "Sales", "Support", "Research", "Design"),
    ),
    ("Globex", "globex", "Globex corporate English programme", ("Operations", "Finance", "Field")),
    ("Initech", "initech", "Initech pilot (two owners)", ("Engineering", "QA")),
)
#: The teams of every generated organization (past the named ones in ``_ORGS``).
_GENERATED_TEAMS = ("North", "South", "East", "West")
_TOPICS = (
    "onboarding",
    "launch plan",
    "meeting notes",
    "pricing",
    "security policy",
    "travel policy",
    "quarterly goals",
    "customer feedback",
    "release checklist",
    "incident review",
    "hiring",
    "learning path",
    "pronunciation",
    "business email",
    "negotiation",
    "presentation skills",
)
_WORDS = _words(
    """
    team plan review customer release learning english module speaking writing budget deadline
    goal feedback meeting project report policy practice vocabulary grammar schedule quarter
    launch support training
    """
)
_USER_LINES = (
    "Hello Xentree",
    "Can we practise small talk?",
    "How do I say this more politely?",
    "Let's rehearse my presentation.",
    "What does 'touch base' mean?",
    "Could you correct my grammar?",
    "I want to sound more confident.",
    "Can you repeat that more slowly?",
    "How was my pronunciation?",
)
_AI_LINES = (
    "Hi, how can I help you today?",
    "Sure, let's start with a short warm-up.",
    "Great answer. Try using a linking word next time.",
    "That sounded natural, well done.",
    "Here is a more formal way to say it.",
    "Let's focus on the vowel sound in that word.",
    "Good. Now tell me about your last project.",
    "Nice progress compared to last week.",
)


def hashed_id(prefix: str, seed: int, *parts: object) -> str:
    """Return a stable id ``<prefix>_<12 hex>`` derived from the seed and ``parts``."""
    text = ":".join([str(seed), prefix, *map(str, parts)])
    return f"{prefix}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def random_token(rng: random.Random, nbytes: int) -> str:
    """Return ``nbytes`` random bytes from ``rng`` as unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).rstrip(b"=").decode()


def to_datetime(us: int) -> dt.datetime:
    """Convert microseconds since the epoch into an aware UTC datetime."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)


def from_datetime(value: dt.datetime) -> int:
    """Convert an aware datetime into microseconds since the epoch."""
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def format_timestamp(us: int | None, style: str) -> str | None:
    """Render microseconds since the epoch as ISO-8601 UTC in the given style (z/offset/fractional)."""
    if us is None:
        return None
    value = to_datetime(us)
    if style == "fractional":
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + ("+00:00" if style == "offset" else "Z")


def parse_timestamp(text: str) -> int:
    """Parse an ISO-8601 timestamp (``Z``, offset or naive-as-UTC) into microseconds since the epoch.

    The client's parser, which reads the same text on every Python (3.10's ``fromisoformat`` alone
    refuses e.g. ``10:00:02.5+00:00``); ``ValueError`` when it is not a timestamp.
    """
    return from_datetime(parse_api_timestamp(text))


@dataclass
class User:
    """A Xentree account."""

    id: str
    email: str
    full_name: str
    username: str
    created_at: int
    password: str | None = None
    nickname: str | None = None


@dataclass(frozen=True)
class Team:
    """A team inside an organization."""

    id: str
    name: str


@dataclass
class Organization:
    """An organization (tenant) with its teams."""

    id: str
    name: str
    slug: str
    description: str
    created_at: int
    teams: list[Team] = field(default_factory=list)


@dataclass
class Member:
    """A user's membership of one organization (``role`` None: listed without a role)."""

    user_id: str
    role: str | None
    team_id: str | None
    joined_at: int


@dataclass(frozen=True)
class ApiKey:
    """A seeded API key; belongs to one user and one organization (``org_id``).

    ``extra_org_ids`` are further organizations the key covers (the demo key covers them all).
    """

    name: str
    key: str
    scopes: tuple[str, ...]
    user_id: str
    org_id: str
    extra_org_ids: tuple[str, ...] = ()

    @property
    def organization_ids(self) -> tuple[str, ...]:
        """Every organization the key covers, its own first."""
        return (self.org_id, *(org_id for org_id in self.extra_org_ids if org_id != self.org_id))


class TranscriptRow(NamedTuple):
    """One live transcript without its turns (times in microseconds since the epoch)."""

    id: str
    session_id: str
    started: int
    ended: int
    created: int
    turn_count: int


@dataclass
class XelTask:
    """A task inside an XEL module."""

    id: str
    module_id: str
    type: str
    prompt: str


@dataclass
class XelModule:
    """An XEL (Xentree English) module."""

    id: str
    title: str
    level: str
    skill: str
    tasks: list[XelTask]


@dataclass
class Activity:
    """Per-user daily learning series: ``day index -> (minutes, last activity time in us)``."""

    days: dict[int, tuple[int, int]]
    modules_completed: int
    progress_percent: float
    average_score: float | None


@dataclass
class Conversation:
    """A chat conversation with its messages (dicts with id, role, content, created_at)."""

    id: str
    title: str
    created_at: int
    updated_at: int
    messages: list[dict[str, Any]]


class World:
    """The sandbox's whole data set; mutable in memory, rebuilt from the seed on reset."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.anchor_us = from_datetime(config.anchor_datetime())
        self.start_us = self.anchor_us - config.days * DAY_US
        self.users: dict[str, User] = {}
        self.orgs: dict[str, Organization] = {}
        self.members: dict[str, dict[str, Member]] = {}
        self.learners: dict[str, dict[str, str | None]] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self._activity: dict[str, Activity] = {}
        self._build_people()
        self._build_transcripts()
        self._build_xel()
        self._build_knowledge()
        self._build_conversations()
        self.live_used_seconds = min(config.live_quota_seconds, 1800)
        self.live_sessions: dict[str, dict[str, Any]] = {}
        self.saved_turns: dict[str, list[dict[str, Any]]] = {}
        self.integrations: list[dict[str, Any]] = [
            {"provider": "google_calendar", "status": "active", "connected_at": self.start_us + 3 * DAY_US}
        ]
        self.providers = [
            {"id": "auto", "name": "Automatic routing", "models": ["auto"]},
            {"id": "openai", "name": "OpenAI", "models": ["gpt-5-mini", "gpt-5"]},
            {"id": "anthropic", "name": "Anthropic", "models": ["claude-sonnet", "claude-haiku"]},
            {"id": "mistral", "name": "Mistral", "models": ["mistral-large", "mistral-small"]},
        ]

    # ------------------------------------------------------------------ people
    def _new_user(self, rng: random.Random, index: int, domain: str) -> User:
        first = _FIRST[index % len(_FIRST)]
        last = _LAST[(index * 7 + index // len(_FIRST)) % len(_LAST)]
        suffix = "" if index < len(_FIRST) else str(index)
        username = f"{first}.{last}{suffix}".lower()
        user = User(
            id=hashed_id("usr", self.seed, "user", index),
            email=f"{username}@{domain}",
            full_name=f"{first} {last}",
            username=username,
            created_at=self.start_us - rng.randint(30, 400) * DAY_US + rng.randint(0, DAY_US - 1),
        )
        self.users[user.id] = user
        return user

    def _build_people(self) -> None:
        config = self.config
        rng = random.Random(f"{self.seed}:people")
        secret_rng = random.Random(f"{self.seed}:secrets")
        self.password = "sbx-" + random_token(secret_rng, 12)
        self.jwt_secret = secret_rng.randbytes(32)
        self.primary = User(
            id=hashed_id("usr", self.seed, "primary"),
            email="ada@acme.example",
            full_name="Ada Lovelace",
            username="ada",
            created_at=self.start_us - 400 * DAY_US,
            password=self.password,
            nickname="Ada",
        )
        self.users[self.primary.id] = self.primary
        counter = 0
        acme_users: list[User] = []
        for org_index, (name, slug, description, teams) in enumerate(_ORGS[: config.organizations]):
            org = Organization(
                id=hashed_id("org", self.seed, slug),
                name=name,
                slug=slug,
                description=description,
                created_at=self.start_us - (300 - 40 * org_index) * DAY_US,
                teams=[Team(hashed_id("team", self.seed, slug, t), t) for t in teams],
            )
            self.orgs[org.id] = org
            roster: dict[str, Member] = {}
            size = config.members_per_org
            people: list[User] = []
            if org_index == 0:
                people.append(self.primary)
            elif org_index == 1:
                # an owner of its own, then Ada (admin), then a few people shared with Acme
                counter += 1
                people.append(self._new_user(rng, counter, f"{slug}.example"))
                people.append(self.primary)
                people.extend(acme_users[1:6])
            else:
                people.append(self.primary)
            while len(people) < size:
                counter += 1
                people.append(self._new_user(rng, counter, f"{slug}.example"))
            for pos, user in enumerate(people[:size]):
                role = self._role_for(org_index, pos, user)
                team = org.teams[rng.randrange(len(org.teams))]
                joined = org.created_at + rng.randint(0, 200) * DAY_US + rng.randint(0, DAY_US - 1)
                roster[user.id] = Member(user.id, role, team.id, joined)
            if org_index == 0:
                acme_users = people
            self.members[org.id] = roster
            self.learners[org.id] = {}
        self.first_org = next(iter(self.orgs.values()))
        extra = max(0, config.directory_members - len(self.members[self.first_org.id]))
        for _ in range(extra):
            counter += 1
            user = self._new_user(rng, counter, "learners.acme.example")
            team = self.first_org.teams[rng.randrange(len(self.first_org.teams))]
            self.learners[self.first_org.id][user.id] = team.id
        self._build_generated_organizations(counter)
        for name, scopes in KEY_SCOPES.items():
            key = "xntr-" + random_token(secret_rng, 64)
            self.api_keys[key] = ApiKey(name, key, scopes, self.primary.id, self.first_org.id)
        # Its own generator, so that adding it left every other seeded secret as it was.
        demo_key = "xntr-" + random_token(random.Random(f"{self.seed}:demo-key"), 64)
        self.api_keys[demo_key] = ApiKey(
            DEMO_KEY_NAME, demo_key, ALL_SCOPES, self.primary.id, self.first_org.id, tuple(self.orgs)
        )

    def _build_generated_organizations(self, counter: int) -> None:
        """Organizations past the named ones (``config.organizations`` > 3), Ada owning each.

        Built last, from their own random generator, so that the named organizations, their members
        and the directory's learners are the same whatever the number of organizations.
        """
        rng = random.Random(f"{self.seed}:generated-organizations")
        for org_index in range(len(_ORGS), self.config.organizations):
            slug = f"org{org_index + 1:02d}"
            org = Organization(
                id=hashed_id("org", self.seed, slug),
                name=f"Sandbox Organization {org_index + 1:02d}",
                slug=slug,
                description="A generated organization (SandboxConfig.organizations)",
                created_at=self.start_us - rng.randint(30, 250) * DAY_US,
                teams=[Team(hashed_id("team", self.seed, slug, t), t) for t in _GENERATED_TEAMS],
            )
            self.orgs[org.id] = org
            people = [self.primary]
            while len(people) < self.config.members_per_org:
                counter += 1
                people.append(self._new_user(rng, counter, f"{slug}.example"))
            roster: dict[str, Member] = {}
            for pos, user in enumerate(people):
                team = org.teams[rng.randrange(len(org.teams))]
                joined = org.created_at + rng.randint(0, 20) * DAY_US + rng.randint(0, DAY_US - 1)
                roster[user.id] = Member(user.id, self._role_for(org_index, pos, user), team.id, joined)
            self.members[org.id] = roster
            self.learners[org.id] = {}

    def _role_for(self, org_index: int, pos: int, user: User) -> str:
        if pos == 0:
            return "owner"
        if org_index == 1 and user is self.primary:
            return "admin"
        if org_index == 2 and pos == 1:
            return "owner"  # Initech has two owners
        if pos <= 3:
            return "admin"
        if pos <= 8:
            return "manager"
        return "member"

    def user_by_email(self, email: str) -> User | None:
        """Find a user by e-mail, case-insensitively."""
        wanted = email.strip().lower()
        for user in self.users.values():
            if user.email.lower() == wanted:
                return user
        return None

    def add_user(self, email: str, full_name: str | None, username: str | None, password: str | None) -> User:
        """Create and register a new user."""
        index = len(self.users)
        local = email.split("@", 1)[0]
        user = User(
            id=hashed_id("usr", self.seed, "new", index, email.lower()),
            email=email,
            full_name=full_name or local.replace(".", " ").title(),
            username=username or local.lower(),
            created_at=self.anchor_us,
            password=password,
        )
        self.users[user.id] = user
        return user

    def team_name(self, team_id: str | None) -> str | None:
        """Return the name of a team id (any organization)."""
        for org in self.orgs.values():
            for team in org.teams:
                if team.id == team_id:
                    return team.name
        return None

    # ------------------------------------------------------------------ transcripts
    def _build_transcripts(self) -> None:
        n = self.config.transcripts
        rng = random.Random(f"{self.seed}:transcripts")
        days = self.config.days
        specials: list[int] = []
        if n:
            specials.append(self.anchor_us - rng.randint(120, 900) * US)  # newest, just before anchor
        # sessions starting exactly at UTC midnight, and one second before midnight
        specials.extend(self.anchor_us - k * DAY_US for k in range(1, days + 1))
        specials.extend(self.anchor_us - k * DAY_US - US for k in range(1, min(days, 3) + 1))
        specials = specials[:n]
        latest = self.anchor_us - 1800 * US
        rows: list[TranscriptRow] = []
        span = max(1, latest - self.start_us)
        for i in range(n):
            started = specials[i] if i < len(specials) else self.start_us + int(rng.random() * span)
            duration = rng.randint(60, 1500) * US + rng.randint(0, US - 1)
            ended = started + duration
            created = ended + rng.randint(1, 30) * US + rng.randint(0, US - 1)
            turns = max(2, int(duration // US) // rng.randint(20, 45))
            rows.append(
                TranscriptRow(
                    hashed_id("ltr", self.seed, i),
                    hashed_id("lss", self.seed, i),
                    started,
                    ended,
                    created,
                    turns,
                )
            )
        if self.config.late_share > 0:
            rows = self._late_arrivals(rows)
        rows.sort(key=lambda r: (-r.started, r.id))
        self.transcripts = rows
        self.transcript_index = {row.id: row for row in rows}

    def _late_arrivals(self, rows: list[TranscriptRow]) -> list[TranscriptRow]:
        """Delay the save of ``late_share`` of ``rows`` by 1 h to ``late_hours`` (own random stream)."""
        rng = random.Random(f"{self.seed}:late-arrivals")
        longest = int(self.config.late_hours * 3600)
        delayed = []
        for row in rows:
            if rng.random() < self.config.late_share:
                lag = rng.randint(3600, longest) * US + rng.randint(0, US - 1)
                row = row._replace(created=row.ended + lag)
            delayed.append(row)
        return delayed

    def visible_conversation(self, conversation: Conversation) -> Conversation | None:
        """``conversation`` as the server clock sees it (its messages saved by then, its update time
        their latest); None when it was created after the clock."""
        clock = self.config.clock_us()
        if clock is None:
            return conversation
        if conversation.created_at > clock:
            return None
        messages = [message for message in conversation.messages if message["created_at"] <= clock]
        updated = max([conversation.created_at, *(message["created_at"] for message in messages)])
        return Conversation(conversation.id, conversation.title, conversation.created_at, updated, messages)

    def visible_transcripts(self) -> list[TranscriptRow]:
        """The transcripts saved by the server clock (all of them when no clock is set)."""
        clock = self.config.clock_us()
        if clock is None:
            return self.transcripts
        return [row for row in self.transcripts if row.created <= clock]

    def add_transcript(
        self, started: int, ended: int, turns: list[dict[str, Any]], now_us: int
    ) -> TranscriptRow:
        """Store a saved transcript (with its turns) in newest-first order."""
        index = len(self.transcript_index)
        row = TranscriptRow(
            hashed_id("ltr", self.seed, "saved", index, started),
            hashed_id("lss", self.seed, "saved", index, started),
            started,
            ended,
            now_us,
            len(turns),
        )
        pos = bisect.bisect_left(self.transcripts, (-row.started, row.id), key=lambda r: (-r.started, r.id))
        self.transcripts.insert(pos, row)
        self.transcript_index[row.id] = row
        self.saved_turns[row.id] = turns
        return row

    def turns_for(self, row: TranscriptRow) -> list[tuple[str, str, int]]:
        """Return the turns of a transcript as ``(role, text, timestamp_us)``, regenerated from its id."""
        saved = self.saved_turns.get(row.id)
        if saved is not None:
            return [(t["role"], t["text"], t["timestamp"]) for t in saved]
        rng = random.Random(f"{self.seed}:turns:{row.id}")
        step = max(1, (row.ended - row.started) // (row.turn_count + 1))
        turns = []
        for k in range(row.turn_count):
            role = "user" if k % 2 == 0 else "ai"
            text = rng.choice(_USER_LINES if role == "user" else _AI_LINES)
            turns.append((role, text, row.started + step * (k + 1) - rng.randint(0, step // 2)))
        return turns

    # ------------------------------------------------------------------ XEL
    def _build_xel(self) -> None:
        rng = random.Random(f"{self.seed}:xel")
        self.modules: dict[str, XelModule] = {}
        self.tasks: dict[str, XelTask] = {}
        count = rng.randint(10, 16)
        task_types = ("quiz", "dialogue", "essay", "listening", "flashcards")
        for i in range(count):
            level = CEFR[min(len(CEFR) - 1, i * len(CEFR) // count)]
            skill = SKILLS[i % len(SKILLS)]
            mod_id = hashed_id("xm", self.seed, i)
            topic = _TOPICS[i % len(_TOPICS)]
            tasks = [
                XelTask(
                    hashed_id("xt", self.seed, i, j),
                    mod_id,
                    rng.choice(task_types),
                    f"{skill.title()} task {j + 1}: {topic}",
                )
                for j in range(rng.randint(4, 10))
            ]
            module = XelModule(mod_id, f"{level} {skill.title()}: {topic.title()}", level, skill, tasks)
            self.modules[mod_id] = module
            for task in tasks:
                self.tasks[task.id] = task
        # per-user progress: user id -> task id -> (score, submitted_at); seeded for the primary user
        progress: dict[str, tuple[float, int]] = {}
        self.xel_progress: dict[str, dict[str, tuple[float, int]]] = {self.primary.id: progress}
        modules = list(self.modules.values())
        for i, module in enumerate(modules):
            if i < len(modules) // 3:
                done = len(module.tasks)
            elif i < 2 * len(modules) // 3:
                done = rng.randint(1, len(module.tasks) - 1)
            else:
                done = 0
            for task in module.tasks[:done]:
                when = self.start_us + rng.randint(0, self.config.days * 86_400 - 1) * US
                progress[task.id] = (float(rng.randint(55, 100)), when)

    def activity(self, user_id: str) -> Activity:
        """Return the deterministic daily learning series of a user (computed once, then cached)."""
        cached = self._activity.get(user_id)
        if cached is not None:
            return cached
        rng = random.Random(f"{self.seed}:activity:{user_id}")
        kind = rng.random()
        days = self.config.days
        series: dict[int, tuple[int, int]] = {}
        if kind >= 0.15:
            chance = rng.uniform(0.15, 0.8)
            last_day = days if kind >= 0.35 else max(1, days // 2)  # some only active early on
            for day in range(last_day):
                if rng.random() < chance:
                    minutes = rng.randint(5, 90)
                    at = self.start_us + day * DAY_US + rng.randint(6 * 3600, 22 * 3600) * US
                    series[day] = (minutes, at + rng.randint(0, US - 1))
        total_modules = len(self.modules)
        completed = rng.randint(0, total_modules) if series else 0
        activity = Activity(
            days=series,
            modules_completed=completed,
            progress_percent=round(100.0 * completed / total_modules, 1) if total_modules else 0.0,
            average_score=round(rng.uniform(50, 98), 1) if series else None,
        )
        self._activity[user_id] = activity
        return activity

    # ------------------------------------------------------------------ knowledge base
    def _build_knowledge(self) -> None:
        rng = random.Random(f"{self.seed}:knowledge")
        self.documents: list[dict[str, Any]] = []
        for i in range(50):
            topic = _TOPICS[i % len(_TOPICS)]
            words = rng.sample(_WORDS, 8)
            content = (
                f"{topic.capitalize()} guide, part {i // len(_TOPICS) + 1}. "
                f"This document covers {', '.join(words[:4])} and {words[4]}. "
                f"Teams should {words[5]} the {words[6]} before the {words[7]}."
            )
            self.documents.append(
                {
                    "id": hashed_id("doc", self.seed, i),
                    "title": f"{topic.title()} #{i + 1}",
                    "content": content,
                    "source": f"handbook/{topic.replace(' ', '-')}-{i + 1}.md",
                    "metadata": {
                        "topic": topic,
                        "tags": sorted(words[:3]),
                        "updated_at": self.start_us + rng.randint(0, self.config.days - 1) * DAY_US,
                    },
                }
            )

    # ------------------------------------------------------------------ conversations
    def _build_conversations(self) -> None:
        rng = random.Random(f"{self.seed}:conversations")
        returns = random.Random(f"{self.seed}:conversation-returns")  # own stream: first visits unchanged
        latest = self.anchor_us - 3600 * US
        self.conversations: dict[str, Conversation] = {}
        for i in range(self.config.conversations):
            created = self.start_us + rng.randint(0, self.config.days * 86_400 - 7200) * US
            topic = _TOPICS[i % len(_TOPICS)]
            conv_id = hashed_id("conv", self.seed, i)
            messages: list[dict[str, Any]] = []
            when = created
            for j in range(rng.randint(2, 12)):
                when += rng.randint(5, 300) * US
                role = "user" if j % 2 == 0 else "assistant"
                text = rng.choice(_USER_LINES if role == "user" else _AI_LINES)
                messages.append(
                    {
                        "id": hashed_id("msg", self.seed, i, j),
                        "role": role,
                        "content": f"{text} ({topic})",
                        "created_at": when,
                    }
                )
            messages += self._later_visits(returns, i, topic, when, latest)
            if i == 0:
                messages += self._midnight_messages(i, created, latest)
            messages.sort(key=lambda message: (message["created_at"], message["id"]))
            updated = max([created, *(message["created_at"] for message in messages)])
            self.conversations[conv_id] = Conversation(conv_id, topic.title(), created, updated, messages)

    def _later_visits(
        self, rng: random.Random, index: int, topic: str, after: int, latest: int
    ) -> list[dict[str, Any]]:
        """Messages of 0 to 3 later visits, hours to days apart (some user lines carry an e-mail
        address or a phone number, for redaction)."""
        messages: list[dict[str, Any]] = []
        when = after
        for visit in range(rng.choice((0, 0, 1, 2, 3))):
            when += rng.randint(3600, 4 * 86_400) * US + rng.randint(0, US - 1)
            for k in range(rng.randint(2, 4)):
                when += rng.randint(5, 300) * US
                if when >= latest:
                    return messages
                role = "user" if k % 2 == 0 else "assistant"
                if role == "user" and k == 0 and visit % 2 == 1:
                    phone = f"+1 415 555 {index % 10000:04d}"
                    text = f"Back again: reach me at learner{index}@example.com or {phone}"
                else:
                    text = rng.choice(_USER_LINES if role == "user" else _AI_LINES)
                messages.append(
                    {
                        "id": hashed_id("msg", self.seed, index, "visit", visit, k),
                        "role": role,
                        "content": f"{text} ({topic})",
                        "created_at": when,
                    }
                )
        return messages

    def _midnight_messages(self, index: int, created: int, latest: int) -> list[dict[str, Any]]:
        """Two messages on a UTC day boundary after ``created``: one a microsecond before, one at it."""
        midnight = (created // DAY_US + 2) * DAY_US
        if midnight >= latest:
            return []
        return [
            {
                "id": hashed_id("msg", self.seed, index, "midnight", k),
                "role": role,
                "content": text,
                "created_at": midnight - 1 + k,
            }
            for k, (role, text) in enumerate((("user", "Just before midnight"), ("assistant", "Just after")))
        ]
