"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

- Authentication: logs in as the fuzzing superuser through `POST /auth/token` and
  logs in again whenever a response is 401 (the fuzzer itself calls
  `/auth/invalidate` and `/auth/logout`, which end the session it is using).
- The one change that would lock the fuzzer out for the rest of the run, a new
  password for its own account, is taken out of `PATCH /users/{id}` bodies
  aimed at that account; everything else is sent as generated.
"""

import os

import requests
import schemathesis

URL = os.environ["FASTPKI_FUZZ_URL"]
API = os.environ.get("FASTPKI_FUZZ_API", "/api/v1")
USERNAME = os.environ["FASTPKI_FUZZ_USERNAME"]
PASSWORD = os.environ["FASTPKI_FUZZ_PASSWORD"]
USER_ID = os.environ["FASTPKI_FUZZ_USER_ID"]


@schemathesis.auth(refresh_interval=600, retry_on=[401])
class FastPKIAuth:
    def get(self, case, context):
        r = requests.post(
            f"{URL}{API}/auth/token",
            data={"username": USERNAME, "password": PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.method.upper() == "PATCH"
        and case.path == f"{API}/users/{{id}}"
        and str((case.path_parameters or {}).get("id")) == USER_ID
        and isinstance(case.body, dict)
        and "password" in case.body
    ):
        case.body = {k: v for k, v in case.body.items() if k != "password"}
