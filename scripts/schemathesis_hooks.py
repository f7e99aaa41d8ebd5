"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

- Authentication: logs in as the fuzzing superuser through `POST /auth/token`
  once (and every ten minutes). A 401 is never retried: an unexpected 401 is a
  finding, not a reason to log in again.
- The calls that would end the fuzzer's own session or rights are turned away
  from its account, and everything else is sent as generated:
  `POST /auth/invalidate` runs with the token of a sacrificial user (made again
  if the fuzzer deleted or changed it); `PATCH /users/{id}` aimed at the fuzzer
  loses `password`, `is_active` and `role`; `DELETE /users/{id}` aimed at it
  names a user that does not exist.
"""

import itertools
import os

import requests
import schemathesis

URL = os.environ["FASTPKI_FUZZ_URL"]
API = os.environ.get("FASTPKI_FUZZ_API", "/api/v1")
USERNAME = os.environ["FASTPKI_FUZZ_USERNAME"]
PASSWORD = os.environ["FASTPKI_FUZZ_PASSWORD"]
USER_ID = os.environ["FASTPKI_FUZZ_USER_ID"]
NO_SUCH_USER = 2**31 - 1
_sacrificial = itertools.count(1)


def login(username):
    r = requests.post(
        f"{URL}{API}/auth/token",
        data={"username": username, "password": PASSWORD},
        timeout=30,
    )
    return r.json()["access_token"] if r.status_code == 200 else None


@schemathesis.auth(refresh_interval=600)
class FastPKIAuth:
    def get(self, case, context):
        token = login(USERNAME)
        if token is None:
            raise RuntimeError("the fuzzing superuser cannot log in")
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def sacrificial_token(fuzzer_token):
    """A token of a throwaway user; a new user when the last one is gone."""
    username = f"sacrificial-{next(_sacrificial)}"
    r = requests.post(
        f"{URL}{API}/users/",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        headers={"Authorization": f"Bearer {fuzzer_token}"},
        timeout=30,
    )
    r.raise_for_status()
    return login(username)


def is_fuzzer(token):
    """Whether a bearer token (generated or ours) is the fuzzer's own session."""
    r = requests.get(
        f"{URL}{API}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return r.status_code == 200 and r.json().get("username") == USERNAME


def aimed_at_fuzzer(case):
    return str((case.path_parameters or {}).get("id")) == USER_ID


@schemathesis.hook
def before_call(context, case, kwargs):
    method = case.method.upper()
    if method == "POST" and case.path == f"{API}/auth/invalidate":
        token = (case.headers or {}).get("Authorization", "").removeprefix("Bearer ")
        if token and is_fuzzer(token):
            case.headers["Authorization"] = f"Bearer {sacrificial_token(token)}"
    elif case.path == f"{API}/users/{{id}}" and aimed_at_fuzzer(case):
        if method == "PATCH" and isinstance(case.body, dict):
            case.body = {
                k: v for k, v in case.body.items() if k not in ("password", "is_active", "role")
            }
        elif method == "DELETE":
            case.path_parameters["id"] = NO_SUCH_USER
