"""The Locust side of Keel's load test (bench/load.py starts it as a process of its own, on gevent):
signs the simulated users in through the authorization server as the web app does, then runs the CRM
day's mix (`load.MIX`) for the measured run and the knee's steps, and writes what it recorded to the
file its configuration names.

    python bench/load_users.py CONFIG.json     # started by bench/load.py, not by hand
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else loads

import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import suppress  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs, urlencode, urlsplit  # noqa: E402

from load import (  # noqa: E402
    ACCOUNT_TAGS,
    CLIENT_ID,
    COMPANY_WORDS,
    CONTACT_TAGS,
    CSRF_FIELD,
    KNEE_P95_MS,
    LAST_NAMES,
    MIX,
    PASSWORD,
    REDIRECT_URI,
    BenchError,
    Person,
    latency_summary,
    percentile,
)

DRAIN_S = 20.0  # after an overloaded run, before the next step: stopped users, the API's queue emptied


def drive(config_path: str) -> int:
    import gevent
    from gevent.pool import Pool
    from locust import between, task
    from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
    from locust.env import Environment
    from locust.event import Events

    config = json.loads(Path(config_path).read_text())
    host: str = config["host"]
    crowd = [Person(**p) for p in config["people"]]
    started = time.time()

    def event(what: str, **detail: Any) -> None:
        """A line the orchestrator reads: phase boundaries (for the CPU windows) and progress."""
        print("EVENT " + json.dumps({"event": what, "t": time.time(), **detail}), flush=True)

    def say(message: str) -> None:
        print(f"[locust {time.strftime('%H:%M:%S')}] {message}", flush=True)

    # ---- recording: every request, by phase and kind, and by second for the history --------------
    @dataclass
    class Record:
        phase: str | None = None
        times: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # phase -> kind -> ms
        failures: dict[str, dict[str, int]] = field(default_factory=dict)  # phase -> kind -> count
        samples: list[dict[str, Any]] = field(default_factory=list)  # the first failures, in detail
        seconds: dict[int, list[float]] = field(default_factory=dict)  # second of the run -> ms
        failed_seconds: dict[int, int] = field(default_factory=dict)
        users: dict[int, int] = field(default_factory=dict)
        window: list[float] | None = None  # a knee step's measured window: its requests' ms

    rec = Record()

    def on_request(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: Any = None,
        url: str | None = None,
        **_: Any,
    ) -> None:
        phase = rec.phase
        if phase is None:
            return
        second = int(time.time() - started)
        rec.seconds.setdefault(second, []).append(response_time)
        rec.times.setdefault(phase, {}).setdefault(name, []).append(response_time)
        if rec.window is not None:
            rec.window.append(response_time)
        if exception is None:
            return
        rec.failed_seconds[second] = rec.failed_seconds.get(second, 0) + 1
        counts = rec.failures.setdefault(phase, {})
        counts[name] = counts.get(name, 0) + 1
        if len(rec.samples) < 60:
            status, body, request_id = None, "", None
            if response is not None:
                status = getattr(response, "status_code", None)
                with suppress(Exception):
                    body = (response.text or "")[:400]
                with suppress(Exception):
                    request_id = response.headers.get("x-request-id")
            rec.samples.append(
                {
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "phase": phase,
                    "kind": name,
                    "method": request_type,
                    "url": url,
                    "status": status,
                    "error": repr(exception)[:300],
                    "body": body,
                    "request_id": request_id,
                    "response_ms": round(response_time, 1),
                }
            )

    events = Events()  # type: ignore[no-untyped-call]
    events.request.add_listener(on_request)  # type: ignore[no-untyped-call]

    # ---- signing in, as the web app does ---------------------------------------------------------
    @dataclass
    class Family:
        """One refresh-token family: a browser tab of the web app, signed in as `person`."""

        person: Person
        login_cookie: str  # the authorization server's session cookie (a new tab authorizes with it)
        access: str = ""
        refresh: str = ""
        expires_at: float = 0.0

    def cookies_of(response: Any) -> dict[str, str]:
        """`__Host-` cookies are Secure, which a client on plain http does not send back: kept by hand."""
        out = {}
        for raw in response.headers.getlist("set-cookie"):
            name, _, rest = raw.partition("=")
            out[name.strip()] = rest.split(";", 1)[0]
        return out

    def expect(response: Any, status: int, step: str) -> Any:
        if response.status_code != status:
            raise BenchError(
                f"{step}: HTTP {response.status_code}, expected {status}: {(response.text or '')[:200]}"
            )
        return response

    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}

    @dataclass(frozen=True)
    class AuthorizationRequest:
        verifier: str
        state: str
        path: str  # /oauth/authorize?… for the web app's client, PKCE S256

    def authorization_request() -> AuthorizationRequest:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "api",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return AuthorizationRequest(verifier, state, "/oauth/authorize?" + urlencode(params))

    def authorize(client: Any, family: Family, request: AuthorizationRequest | None = None) -> None:
        """/oauth/authorize with the signed-in session, then the code redeemed for tokens."""
        request = request or authorization_request()
        answer = expect(
            client.get(
                request.path,
                name="sign in: authorize",
                headers={"Cookie": family.login_cookie},
                allow_redirects=False,
            ),
            302,
            "GET /oauth/authorize",
        )
        location = answer.headers.get("location") or ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != request.state:
            raise BenchError(f"GET /oauth/authorize redirected to {location[:200]!r}")
        form = {
            "grant_type": "authorization_code",
            "code": query.get("code", ""),
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "code_verifier": request.verifier,
        }
        tokens = expect(
            client.post(
                "/oauth/token", data=urlencode(form), headers=form_headers, name="sign in: token (code)"
            ),
            200,
            "POST /oauth/token (authorization_code)",
        ).json()
        family.access, family.refresh = tokens["access_token"], tokens["refresh_token"]
        family.expires_at = time.time() + float(tokens.get("expires_in", 600))

    def sign_in(client: Any, person: Person) -> Family:
        """What a member does in the morning: the web app sends them to /oauth/authorize, which sends
        them to the sign-in form; the password; back to /oauth/authorize; the code redeemed."""
        request = authorization_request()
        page = expect(
            client.get("/login?" + urlencode({"next": request.path}), name="sign in: login page"),
            200,
            "GET /login",
        )
        jar = cookies_of(page)
        csrf = CSRF_FIELD.search(page.text or "")
        form = {
            "csrf": csrf.group(1) if csrf else "",
            "email": person.email,
            "password": PASSWORD,
            "next": request.path,
        }
        answer = expect(
            client.post(
                "/login",
                data=urlencode(form),
                headers={**form_headers, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
                name="sign in: password",
                allow_redirects=False,
            ),
            303,
            "POST /login",
        )
        jar |= cookies_of(answer)
        back = answer.headers.get("location") or ""
        if "__Host-keel_session" not in jar or not back.startswith("/oauth/authorize?"):
            raise BenchError(f"POST /login: no session, or not sent back to authorize ({person.email})")
        family = Family(person, f"__Host-keel_session={jar['__Host-keel_session']}")
        authorize(client, family, request)
        return family

    def new_session() -> Any:
        return FastHttpSession(
            base_url=host,
            request_event=events.request,
            user=None,
            network_timeout=60.0,
            connection_timeout=60.0,
        )

    pool: deque[Family] = deque()  # families not in use by a simulated user, ready to be taken
    logins: dict[str, str] = {}  # e-mail -> the session cookie of the member's sign-in
    signin_errors: list[str] = []
    rec.phase = "signin"
    event("phase", name="signin", state="start")
    say(f"signing in {len(crowd):,} members ({config['signin_concurrency']} at a time)")
    todo: deque[Person] = deque(crowd)
    done_count = [0]

    def signer() -> None:
        client = new_session()
        while todo:
            person = todo.popleft()
            for attempt in range(2):
                try:
                    family = sign_in(client, person)
                    logins[person.email] = family.login_cookie
                    pool.append(family)
                    break
                except Exception as exc:  # reported, and the run stops on many
                    if attempt == 1:
                        signin_errors.append(f"{person.email}: {exc}"[:300])
                    client = new_session()
            done_count[0] += 1
            if done_count[0] % 250 == 0:
                say(f"  {done_count[0]:,} of {len(crowd):,} signed in")

    t0 = time.time()
    workers = Pool(config["signin_concurrency"])
    for _ in range(config["signin_concurrency"]):
        workers.spawn(signer)
    workers.join()
    signin_seconds = time.time() - t0
    event("phase", name="signin", state="end")
    say(f"{len(pool):,} signed in in {signin_seconds:.0f} s; {len(signin_errors)} failed")
    if len(signin_errors) > max(2, len(crowd) // 100):
        Path(config["out"]).write_text(json.dumps({"fatal": "sign-ins failed", "errors": signin_errors[:20]}))
        return 2

    # ---- the simulated users -------------------------------------------------------------------
    weights_by_role = {
        "manager": MIX,
        "sales_rep": {k: v for k, v in MIX.items() if k != "list audit events"},
    }
    spare_index = [0]

    class CrmUser(FastHttpUser):
        """One member of one organisation, in the web app."""

        host = config["host"]
        wait_time = between(1, 3)
        network_timeout = 60.0
        connection_timeout = 60.0

        def on_start(self) -> None:
            self.rng = random.Random()  # noqa: S311 - a workload, not a secret
            self.family: Family | None = None
            if pool:
                self.family = pool.popleft()
            else:  # more users than sign-ins: another tab of a signed-in member, its own token family
                person = crowd[spare_index[0] % len(crowd)]
                spare_index[0] += 1
                if person.email not in logins:
                    return
                family = Family(person, logins[person.email])
                try:
                    authorize(self.client, family)
                except BenchError:
                    return
                self.family = family
            person = self.family.person
            self.me = person.user_id
            kinds = weights_by_role[person.role]
            self.kinds, self.weights = list(kinds), list(kinds.values())
            self.accounts: deque[str] = deque(maxlen=50)
            self.contacts: deque[str] = deque(maxlen=50)
            self.deals: deque[str] = deque(maxlen=50)
            self.open_stages: set[str] = set()
            self.names: deque[str] = deque(maxlen=30)
            self.refreshing = False

        def on_stop(self) -> None:
            if self.family is not None and not self.refreshing:
                pool.append(self.family)  # back to the pool: a later user goes on with its token
            self.family = None

        # -- plumbing --
        def auth(self, extra: dict[str, str] | None = None) -> dict[str, str]:
            assert self.family is not None
            if time.time() > self.family.expires_at - 60:
                self.refresh_token()
            return {"Authorization": f"Bearer {self.family.access}", **(extra or {})}

        def get_json(self, path: str, name: str) -> Any:
            response = self.client.get(path, headers=self.auth(), name=name)
            if response.status_code != 200:
                return None
            try:
                return response.json()
            except ValueError:
                return None

        def page(self, path: str, name: str) -> list[dict[str, Any]]:
            sep = "&" if "?" in path else "?"
            body = self.get_json(f"{path}{sep}limit=50", name)
            return body.get("items", []) if isinstance(body, dict) else []

        def pick(self, seen: deque[str], fill: Callable[[], None]) -> str | None:
            if not seen:
                fill()
            return self.rng.choice(seen) if seen else None

        @task
        def work(self) -> None:
            if self.family is None:
                return
            kind = self.rng.choices(self.kinds, self.weights)[0]
            getattr(self, "do_" + kind.replace(" ", "_"))()

        # -- lists --
        def do_list_contacts(self) -> None:
            r = self.rng.random()
            if r < 0.4 or not self.accounts:
                query = "" if r < 0.25 else f"?tag={self.rng.choice(CONTACT_TAGS)}"
            elif r < 0.7:
                query = f"?owner_id={self.me}"
            else:
                query = f"?account_id={self.rng.choice(self.accounts)}"
            for item in self.page("/api/v1/contacts" + query, "list contacts"):
                self.contacts.append(item["id"])
                self.names.append(f"{item.get('first_name', '')} {item.get('last_name', '')}".strip())
                if item.get("email") and self.rng.random() < 0.2:
                    self.names.append(item["email"].split("@")[0][:8])

        def do_list_accounts(self) -> None:
            query = self.rng.choice(
                [
                    "",
                    f"?tag={self.rng.choice(ACCOUNT_TAGS)}",
                    "?lifecycle_stage=customer",
                    f"?owner_id={self.me}",
                ]
            )
            for item in self.page("/api/v1/accounts" + query, "list accounts"):
                self.accounts.append(item["id"])
                if self.rng.random() < 0.1:
                    self.names.append(item["name"].split()[0])

        def do_list_deals(self) -> None:
            stage = self.rng.choice(sorted(self.open_stages)) if self.open_stages else None
            query = self.rng.choice(
                [
                    "?status=open",
                    f"?stage_id={stage}" if stage else "?status=open",
                    f"?owner_id={self.me}",
                    "",
                ]
            )
            for item in self.page("/api/v1/deals" + query, "list deals"):
                self.deals.append(item["id"])
                if item.get("status") == "open":
                    self.open_stages.add(item["stage_id"])

        def do_list_leads(self) -> None:
            self.page(
                "/api/v1/leads" + self.rng.choice(["?status=new", "?status=working", "?tag=hot", ""]),
                "list leads",
            )

        def do_list_tickets(self) -> None:
            account = f"?account_id={self.rng.choice(self.accounts)}" if self.accounts else ""
            self.page("/api/v1/tickets" + self.rng.choice(["?status=open", account, ""]), "list tickets")

        def do_list_activities(self) -> None:
            account = f"?account_id={self.rng.choice(self.accounts)}" if self.accounts else ""
            query = self.rng.choice([account, f"?open_tasks=true&assignee_id={self.me}", ""])
            self.page("/api/v1/activities" + query, "list activities")

        def do_list_audit_events(self) -> None:
            since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
            query = self.rng.choice(
                ["", "?entity_type=contact", "?action=deal.stage_changed", "?" + urlencode({"since": since})]
            )
            self.page("/api/v1/audit-events" + query, "list audit events")

        # -- record pages, the summary, search --
        def do_get_account(self) -> None:
            account = self.pick(self.accounts, self.do_list_accounts)
            if account:
                self.client.get(f"/api/v1/accounts/{account}", headers=self.auth(), name="get account")

        def do_get_contact(self) -> None:
            contact = self.pick(self.contacts, self.do_list_contacts)
            if contact:
                self.client.get(f"/api/v1/contacts/{contact}", headers=self.auth(), name="get contact")

        def do_get_deal(self) -> None:
            deal = self.pick(self.deals, self.do_list_deals)
            if deal:
                self.client.get(f"/api/v1/deals/{deal}", headers=self.auth(), name="get deal")

        def do_account_summary(self) -> None:
            account = self.pick(self.accounts, self.do_list_accounts)
            if account:
                self.client.get(
                    f"/api/v1/accounts/{account}/summary", headers=self.auth(), name="account summary"
                )

        def do_search(self) -> None:
            r = self.rng.random()
            if self.names and r < 0.7:
                q = self.rng.choice(self.names)
            elif r < 0.85:
                q = self.rng.choice(COMPANY_WORDS)
            else:
                q = self.rng.choice(LAST_NAMES)
            if len(q) < 2:
                q = self.rng.choice(LAST_NAMES)
            self.client.get("/api/v1/search?" + urlencode({"q": q}), headers=self.auth(), name="search")

        # -- creates and changes --
        def do_create_contact(self) -> None:
            account = self.pick(self.accounts, self.do_list_accounts)
            first, last = (
                self.rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]),
                self.rng.choice(LAST_NAMES),
            )
            body: dict[str, Any] = {
                "first_name": first,
                "last_name": last,
                "title": self.rng.choice(["Buyer", "CTO", "Office Manager"]),
                "email": f"{first.lower()}.{last.lower()}.{secrets.token_hex(3)}@example.com",
                "tags": [self.rng.choice(CONTACT_TAGS)],
            }
            if account:
                body |= {"account_ids": [account], "primary_account_id": account}
            headers = self.auth({"Idempotency-Key": str(uuid.uuid4())})
            response = self.client.post("/api/v1/contacts", json=body, headers=headers, name="create contact")
            if response.status_code != 201:
                return
            self.contacts.append(response.json()["id"])
            if self.rng.random() < 0.1:  # the answer was lost on the way: the web app sends it again
                with self.client.post(
                    "/api/v1/contacts",
                    json=body,
                    headers=headers,
                    name="create contact (retry)",
                    catch_response=True,
                ) as again:
                    if again.status_code != 201 or again.headers.get("Idempotent-Replayed") != "true":
                        again.failure(f"not replayed: HTTP {again.status_code}")

        def do_create_activity(self) -> None:
            r = self.rng.random()
            links: dict[str, str] = {}
            if r < 0.6 and (account := self.pick(self.accounts, self.do_list_accounts)):
                links["account_id"] = account
            elif r < 0.8 and self.contacts:
                links["contact_id"] = self.rng.choice(self.contacts)
            elif self.deals:
                links["deal_id"] = self.rng.choice(self.deals)
            if not links:
                return
            kind = self.rng.choice(["call", "note", "email", "meeting"])
            body = {
                "kind": kind,
                "subject": f"{kind.title()} about the renewal",
                "body": "<p>Next steps agreed.</p>",
            }
            headers = self.auth({"Idempotency-Key": str(uuid.uuid4())})
            self.client.post("/api/v1/activities", json=body | links, headers=headers, name="create activity")

        def do_update_contact(self) -> None:
            contact = self.pick(self.contacts, self.do_list_contacts)
            if not contact:
                return
            read = self.client.get(f"/api/v1/contacts/{contact}", headers=self.auth(), name="get contact")
            if read.status_code != 200:
                return
            change = {
                "title": self.rng.choice(["Head of Sales", "CFO", "Buyer", "Engineer"]),
                "phone": f"+4930{self.rng.randrange(1_000_000, 9_999_999)}",
            }
            headers = self.auth({"If-Match": str(read.headers.get("etag", "")) if read.headers else ""})
            self.client.request(
                "PATCH", f"/api/v1/contacts/{contact}", json=change, headers=headers, name="update contact"
            )

        def do_update_deal(self) -> None:
            deal = self.pick(self.deals, self.do_list_deals)
            if not deal:
                return
            read = self.client.get(f"/api/v1/deals/{deal}", headers=self.auth(), name="get deal")
            if read.status_code != 200:
                return
            current = read.json()
            stages = sorted(self.open_stages - {current.get("stage_id")})
            if current.get("status") != "open" or not stages:
                return
            headers = self.auth({"If-Match": str(read.headers.get("etag", "")) if read.headers else ""})
            self.client.request(
                "PATCH",
                f"/api/v1/deals/{deal}",
                json={"stage_id": self.rng.choice(stages)},
                headers=headers,
                name="update deal",
            )

        # -- the session --
        def refresh_token(self) -> None:
            assert self.family is not None
            self.refreshing = True
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self.family.refresh,
                "client_id": CLIENT_ID,
            }
            response = self.client.post(
                "/oauth/token", data=urlencode(form), headers=form_headers, name="refresh token"
            )
            if response.status_code == 200:
                tokens = response.json()
                self.family.access, self.family.refresh = tokens["access_token"], tokens["refresh_token"]
                self.family.expires_at = time.time() + float(tokens.get("expires_in", 600))
                self.refreshing = False
            else:  # the family is gone: sign in again in a new tab, as the web app would send the user
                family = Family(self.family.person, self.family.login_cookie)
                try:
                    authorize(self.client, family)
                except BenchError:
                    return
                self.family = family
                self.refreshing = False

        def do_refresh_token(self) -> None:
            self.refresh_token()

        def do_export_contacts(self) -> None:
            self.client.get("/api/v1/contacts/export?tag=vip", headers=self.auth(), name="export contacts")

    env = Environment(user_classes=[CrmUser], host=host, events=events, stop_timeout=30)
    runner = env.create_local_runner()

    def count_users() -> None:
        while True:
            rec.users[int(time.time() - started)] = runner.user_count
            gevent.sleep(1.0)

    counter = gevent.spawn(count_users)

    def ramp_to(users: int, rate: float, limit_s: float) -> float:
        """Start (or stop) users until `users` run; returns the seconds it took (bounded)."""
        t = time.time()
        runner.start(users, spawn_rate=rate)
        deadline = t + limit_s
        while time.time() < deadline and runner.user_count != users:
            gevent.sleep(0.2)
        gevent.sleep(0.5)
        return time.time() - t

    def window_stats(values: list[float], seconds: float) -> dict[str, Any]:
        return {
            **latency_summary(values),
            "requests": len(values),
            "rps": round(len(values) / max(seconds, 1e-9), 1),
        }

    result: dict[str, Any] = {
        "signin": {
            "members": len(crowd),
            "signed_in": len(crowd) - len(signin_errors),
            "seconds": round(signin_seconds, 1),
            "errors": signin_errors[:20],
        }
    }
    try:
        users, rate = config["users"], config["spawn_rate"]
        rec.phase = "ramp"
        event("phase", name="ramp", state="start", users=users)
        say(f"ramping up to {users:,} users at {rate:g}/s")
        ramp_s = ramp_to(users, rate, users / rate + 120)
        event("phase", name="ramp", state="end")
        rec.phase = "main"
        event("phase", name="main", state="start", users=runner.user_count)
        say(f"{runner.user_count:,} users running; measuring {config['duration']} s")
        t_main = time.time()
        end = t_main + config["duration"]
        while time.time() < end:
            gevent.sleep(min(60.0, max(0.0, end - time.time())))
            main_times = [v for kind in rec.times.get("main", {}).values() for v in kind]
            failed = sum(rec.failures.get("main", {}).values())
            ordered = sorted(main_times[-20000:])
            say(
                f"  main {time.time() - t_main:5.0f} s: {len(main_times):,} requests, "
                f"{len(main_times) / max(1.0, time.time() - t_main):.0f}/s, p95 of the latest "
                f"{len(ordered):,}: {percentile(ordered, 0.95):.0f} ms, failed {failed}"
            )
        main_s = time.time() - t_main
        event("phase", name="main", state="end")
        result["ramp_s"] = round(ramp_s, 1)
        result["main_s"] = round(main_s, 1)
        result["main_users"] = users

        knee_steps: list[dict[str, Any]] = []
        if config["knee"]:
            main_all = [v for kind in rec.times.get("main", {}).values() for v in kind]
            main_p95 = percentile(sorted(main_all), 0.95)
            step, step_s, settle = config["knee_step"], config["knee_step_duration"], config["knee_settle"]
            knee_deadline = time.time() + config["knee_budget"]
            # A measured run under the threshold puts the knee above --users: the steps start there. One
            # over it starts them from the bottom (other work on the machine may have caused it).
            under: int = users if main_p95 <= KNEE_P95_MS else 0
            over: int | None = None
            top = config["knee_max_users"]
            level = under + step
            say(
                f"knee: the measured run's p95 was {main_p95:.0f} ms, so steps from {level:,} users, +{step} "
                f"every {step_s} s, until p95 > {KNEE_P95_MS:.0f} ms (at most {top:,} users and "
                f"{config['knee_budget']} s), then halving the interval while the budget lasts"
            )
            rec.phase = None
            backlog = [main_p95 > KNEE_P95_MS]  # requests queued in the API from an overloaded run

            def drain() -> None:
                """Stop every user and let the API finish what is queued: a step measured on top of an
                overloaded one's backlog would put the knee too low."""
                if backlog[0]:
                    say(f"  draining: every user stopped for {DRAIN_S:.0f} s")
                    runner.stop()
                    gevent.sleep(DRAIN_S)
                    backlog[0] = False

            drain()
            rec.phase = "knee"
            event("phase", name="knee", state="start")

            def run_step(level: int) -> dict[str, Any]:
                drain()
                t_step = time.time()
                ramp_to(level, max(rate, step / 5), settle)
                gevent.sleep(max(0.0, t_step + settle - time.time()))
                rec.window = []
                t_measure = time.time()
                event("knee_step", state="start", users=level)
                gevent.sleep(max(1.0, t_step + step_s - time.time()))
                measured, rec.window = rec.window, None
                event("knee_step", state="end", users=level)
                stats = window_stats(measured, time.time() - t_measure)
                stats |= {
                    "users": level,
                    "running": runner.user_count,
                    "from_t": round(t_measure - started, 1),
                }
                stats["to_t"] = round(time.time() - started, 1)
                knee_steps.append(stats)
                backlog[0] = stats["p95"] > KNEE_P95_MS
                say(
                    f"  knee step {level:,} users ({runner.user_count:,} running): {stats['rps']:.0f} req/s, "
                    f"p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms"
                )
                return stats

            def time_left() -> bool:
                pending = DRAIN_S if backlog[0] else 0.0
                return bool(time.time() + pending + step_s <= knee_deadline + 1)

            while level <= top and time_left():
                if run_step(level)["p95"] > KNEE_P95_MS:
                    over = level
                    break
                under, level = level, level + step
            while over is not None and over - under > max(25, step // 8) and time_left():
                middle = int(round((under + over) / 2, -1))
                if run_step(middle)["p95"] > KNEE_P95_MS:
                    over = middle
                else:
                    under = middle
            event("phase", name="knee", state="end")
        result["main_p95_ms"] = round(
            percentile(sorted(v for k in rec.times.get("main", {}).values() for v in k), 0.95), 1
        )
        result["knee_steps"] = knee_steps
    finally:
        rec.phase = None
        say("stopping the users")
        runner.quit()
        counter.kill()

    by_phase: dict[str, Any] = {}
    for phase, kinds in rec.times.items():
        values = [v for kind in kinds.values() for v in kind]
        by_phase[phase] = {
            "requests": len(values),
            "failures": sum(rec.failures.get(phase, {}).values()),
            "latency_ms": latency_summary(values),
            "kinds": {
                kind: {
                    "requests": len(times),
                    "failures": rec.failures.get(phase, {}).get(kind, 0),
                    "latency_ms": latency_summary(times),
                }
                for kind, times in sorted(kinds.items())
            },
        }
    result["phases"] = by_phase
    last = max([*rec.seconds, *rec.users, 0])
    result["seconds"] = [
        {
            "t": s,
            "users": rec.users.get(s, 0),
            "requests": len(rec.seconds.get(s, [])),
            "failures": rec.failed_seconds.get(s, 0),
            "times": [round(v, 1) for v in rec.seconds.get(s, [])],
        }
        for s in range(last + 1)
    ]
    result["started"] = started
    result["failure_samples"] = rec.samples
    result["locust_cpu_warning"] = bool(getattr(runner, "cpu_warning_emitted", False))
    Path(config["out"]).write_text(json.dumps(result))
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1]))
