#!/usr/bin/env python3
"""Real ACME clients against a real server, on loopback, exactly as docs/acme.md
tells users to run them: certbot (PyPI), lego and Caddy (Debian). Each issued
chain is verified with `openssl verify` against our root and linted with pkilint;
a revocation made over ACME must show in the CRL.

    scripts/acme_clients.py path/to/fastpki [--postgres ADMIN_URL] [certbot|lego|caddy ...]

With --postgres (a PostgreSQL URL whose role may create databases), the server
runs on a fresh database made there (and dropped at the end) instead of SQLite.

The server is started twice on one SQLite database: first over HTTP to make a
CA, its service account, an ACME directory and the server's own HTTPS
certificate; then over HTTPS (FASTPKI_TLS_CERT / FASTPKI_TLS_KEY), which every
client trusts through our root, as a private CA's users do. Names resolve
through pebble-challtestsrv (Let's Encrypt's challenge test server; Debian
`pebble`), which answers every A query with 127.0.0.1 and serves the TXT
records the dns-01 hooks set; challenges are answered on unprivileged ports
that ACME_HTTP01_PORT / ACME_TLSALPN01_PORT point the validator at.
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "acme-clients-password-1"
# As in test-support/src/pkilint.rs: a private CA asserts no CA/B Forum policy OID.
TOLERATED = {"cabf.serverauth.subscriber.certificate_policies_extension_absent"}
CERTBOT_VERSION = "5.8.0"
VENVS = os.environ.get("FASTPKI_VENVS", "/var/tmp/fastpki-venvs")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step(text):
    print(f"== {text}", flush=True)


class Failure(Exception):
    pass


def run(cmd, env=None, timeout=180, check=True, cwd=None):
    """Runs a command; its output is shown on failure."""
    merged = dict(os.environ)
    merged.update(env or {})
    if not shutil.which(cmd[0]):
        raise Failure(f"{cmd[0]} is not installed (scripts/test.sh installs what the tests need)")
    p = subprocess.run(cmd, env=merged, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


class Api:
    """The REST API over HTTP(S), as an administrator."""

    def __init__(self, base, context=None):
        self.base = base
        self.context = context
        self.token = None

    def call(self, method, path, body=None, form=None):
        data, headers = None, {}
        if body is not None:
            data, headers["content-type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise Failure(f"{method} {path}: {e.code} {e.read().decode()}")
        return json.loads(text) if text else None


class Server:
    def __init__(self, binary, work, database_url=None):
        self.binary, self.work = binary, work
        self.database_url = database_url or f"sqlite:///{work}/fastpki.db"
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(work, "server.log")

    def start(self, extra):
        env = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": self.database_url,
            "FASTPKI_DATA_DIR": f"{self.work}/data",
            "CA_KEY_SIZE": "2048",
            "BCRYPT_COST": "4",
            "AUTH_RATE_LIMIT": "1000/minute",
            "ALLOWED_HOSTS": "localhost",
        }
        env.update(extra)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--bind", f"127.0.0.1:{self.port}"],
            cwd=self.work, env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
        )
        for _ in range(200):
            if self.proc.poll() is not None:
                raise Failure(f"the server exited:\n{open(self.log).read()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise Failure("the server did not listen")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


class ChallTestSrv:
    """pebble-challtestsrv: DNS for every name (127.0.0.1), TXT records on demand."""

    def __init__(self, work):
        self.dns, self.mgmt = free_port(), free_port()
        binary = shutil.which("pebble-challtestsrv")
        if not binary:
            raise Failure("pebble-challtestsrv is missing: install the Debian package `pebble`")
        self.proc = subprocess.Popen(
            [binary, "-dns01", f"127.0.0.1:{self.dns}", "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", f"127.0.0.1:{self.mgmt}",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=open(os.path.join(work, "challtestsrv.log"), "w"), stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.mgmt), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise Failure("pebble-challtestsrv did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def write_hook(path, mgmt, action):
    """A dns-01 hook for certbot's --manual mode: sets or clears the TXT record."""
    endpoint = "set-txt" if action == "set" else "clear-txt"
    value = ',"value":"\'"$CERTBOT_VALIDATION"\'"' if action == "set" else ""
    with open(path, "w") as f:
        f.write("#!/bin/sh\nset -e\n")
        f.write(f"curl -fsS -X POST http://127.0.0.1:{mgmt}/{endpoint} "
                f"-d '{{\"host\":\"_acme-challenge.'\"$CERTBOT_DOMAIN\"'.\"{value}}}' >/dev/null\n")
    os.chmod(path, 0o755)


def write_lego_exec(path, mgmt):
    """lego's `exec` DNS provider: `present|cleanup FQDN VALUE`."""
    with open(path, "w") as f:
        f.write("#!/bin/sh\nset -e\n")
        f.write('case "$1" in\n')
        f.write(f"  present) curl -fsS -X POST http://127.0.0.1:{mgmt}/set-txt "
                "-d '{\"host\":\"'\"$2\"'\",\"value\":\"'\"$3\"'\"}' >/dev/null ;;\n")
        f.write(f"  cleanup) curl -fsS -X POST http://127.0.0.1:{mgmt}/clear-txt "
                "-d '{\"host\":\"'\"$2\"'\"}' >/dev/null ;;\n")
        f.write("esac\n")
    os.chmod(path, 0o755)


def check_chain(label, chain_path, root_path, names, work):
    """openssl verify against our root, the names in the SAN, and pkilint."""
    blocks = [b + "\n" for b in pem_blocks(open(chain_path).read())]
    if not blocks:
        raise Failure(f"{label}: no certificate in {chain_path}")
    leaf = os.path.join(work, f"{label}-leaf.pem")
    untrusted = os.path.join(work, f"{label}-untrusted.pem")
    open(leaf, "w").write(blocks[0])
    open(untrusted, "w").write("".join(blocks[1:]))
    args = ["openssl", "verify", "-CAfile", root_path]
    if len(blocks) > 1:
        args += ["-untrusted", untrusted]
    out = run(args + [leaf]).stdout
    if "OK" not in out:
        raise Failure(f"{label}: openssl verify: {out}")
    text = run(["openssl", "x509", "-in", leaf, "-noout", "-ext", "subjectAltName"]).stdout
    for name in names:
        if name not in text:
            raise Failure(f"{label}: {name} is not in the certificate's SAN: {text}")
    lint = run(["lint_cabf_serverauth_cert", "lint", "-t", "DV-FINAL-CERTIFICATE", "-f", "JSON",
                "-s", "ERROR", leaf], check=False)
    try:
        results = json.loads(lint.stdout)["results"]
        findings = [f for r in results for f in r["finding_descriptions"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise Failure(f"{label}: pkilint's report is not the JSON expected: {lint.stdout}{lint.stderr}")
    if lint.returncode != min(len(findings), 255):
        raise Failure(f"{label}: pkilint exited {lint.returncode} for {len(findings)} findings: {lint.stderr}")
    errors = [f for f in findings if f["severity"] in ("ERROR", "FATAL") and f["code"] not in TOLERATED]
    if errors:
        raise Failure(f"{label}: pkilint errors: {json.dumps(errors)[:2000]}")
    print(f"   {label}: chain verifies, SANs {names}, pkilint clean", flush=True)
    return leaf


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def serial_of(leaf):
    out = run(["openssl", "x509", "-in", leaf, "-noout", "-serial"]).stdout
    return out.strip().split("=", 1)[1].lower().lstrip("0")


def crl_serials(leaf, base, context):
    """Serials the CRL named by the certificate's CDP lists (its path, from the server)."""
    text = run(["openssl", "x509", "-in", leaf, "-noout", "-ext", "crlDistributionPoints"]).stdout
    url = next(w.split("URI:", 1)[1] for w in text.split() if w.startswith("URI:"))
    path = urllib.parse.urlparse(url).path
    with urllib.request.urlopen(base + path, context=context, timeout=30) as r:
        der = r.read()
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text"], input=der, capture_output=True)
    return {line.split(":", 1)[1].strip().lower().lstrip("0")
            for line in p.stdout.decode().splitlines() if "Serial Number:" in line}


def certbot_binary():
    venv = os.path.join(VENVS, f"certbot-{CERTBOT_VERSION}")
    binary = os.path.join(venv, "bin", "certbot")
    if not os.path.exists(binary):
        step(f"installing certbot {CERTBOT_VERSION} in {venv}")
        run([sys.executable, "-m", "venv", venv])
        run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
             f"certbot=={CERTBOT_VERSION}"], timeout=600)
    return binary


def postgres_database(admin_url):
    """A fresh database next to ADMIN_URL's: (its URL, a function that drops it)."""
    name = f"fastpki_acme_{os.getpid()}"
    parsed = urllib.parse.urlparse(admin_url)
    url = parsed._replace(path=f"/{name}").geturl()
    run(["psql", admin_url, "-qAt", "-c", f"CREATE DATABASE {name}"])
    return url, lambda: run(["psql", admin_url, "-qAt", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                            check=False)


def main():
    args = sys.argv[1:]
    postgres = None
    if "--postgres" in args:
        i = args.index("--postgres")
        postgres = args[i + 1]
        del args[i:i + 2]
    binary = os.path.realpath(args[0] if args else "target/debug/fastpki")
    wanted = set(args[1:]) or {"certbot", "lego", "caddy"}
    work = tempfile.mkdtemp(prefix="fastpki-acme-")
    database_url, drop_database = postgres_database(postgres) if postgres else (None, lambda: None)
    server = Server(binary, work, database_url)
    dns = ChallTestSrv(work)
    http_port, tls_port = free_port(), free_port()
    acme_env = {
        "ACME_DNS_RESOLVERS": f"127.0.0.1:{dns.dns}",
        "ACME_HTTP01_PORT": str(http_port),
        "ACME_TLSALPN01_PORT": str(tls_port),
    }
    ok = False
    try:
        step("set-up over HTTP: a root CA, a service account with a policy, an ACME directory")
        server.start(acme_env)
        api = Api(f"http://127.0.0.1:{server.port}/api/v1")
        api.call("POST", "/users/", {"username": "root", "email": "root@example.com",
                                     "password": PASSWORD, "role": "superuser"})
        api.token = api.call("POST", "/auth/token", form={"username": "root", "password": PASSWORD})["access_token"]
        org = api.call("POST", "/organizations/", {"name": "acme-clients"})["id"]
        api.call("POST", "/users/", {"username": "admin", "email": "admin@example.com", "password": PASSWORD,
                                     "role": "admin", "organization_id": org})
        api.token = api.call("POST", "/auth/token", form={"username": "admin", "password": PASSWORD})["access_token"]
        # CRL and CA certificate URLs over plain HTTP, as the Baseline Requirements
        # (7.1.2.11.2) ask, on the web server that publishes them (docs/acme.md);
        # this script fetches the same files from the server itself.
        ca = api.call("POST", "/cas/", {"name": "ACME Clients Root", "subject_dn": "CN=ACME Clients Root,O=FastPKI Tests",
                                        "key_algorithm": "ecdsa-p256", "valid_days": 3650,
                                        "crl_base_url": "http://pki.example.com"})
        root_path = os.path.join(work, "root.pem")
        open(root_path, "w").write(ca["certificate"])
        sa = api.call("POST", "/service-accounts/", {"name": "acme", "can_create_cert": True})
        api.call("PUT", f"/service-accounts/{sa['id']}/policy", {
            "cn_patterns": ["*"], "san_dns_patterns": ["*.example.com", "example.com"],
            "san_ip_cidrs": ["127.0.0.0/8"], "san_email_domains": [], "allowed_ca_ids": [ca["id"]],
            "allowed_certificate_types": ["server"], "max_validity_days": 90, "allow_wildcards": True})
        directory = api.call("POST", "/acme-directories/", {"name": "main", "ca_id": ca["id"],
                                                            "service_account_id": sa["id"], "require_eab": True})
        # The server's own HTTPS certificate, from its own CA.
        tls = api.call("POST", f"/certificates/?ca_id={ca['id']}", {
            "common_name": "localhost", "certificate_type": "server", "san_dns_names": ["localhost"],
            "san_ip_addresses": ["127.0.0.1"], "valid_days": 30, "include_private_key": True})
        cert_file, key_file = os.path.join(work, "tls.crt"), os.path.join(work, "tls.key")
        open(cert_file, "w").write(tls["certificate"])
        open(key_file, "w").write(tls["private_key"])
        os.chmod(key_file, 0o600)
        server.stop()

        step("the same server over HTTPS, trusted through our root")
        server.start({**acme_env, "FASTPKI_TLS_CERT": cert_file, "FASTPKI_TLS_KEY": key_file})
        context = ssl.create_default_context(cafile=root_path)
        base = f"https://127.0.0.1:{server.port}"
        url = f"{base}/acme/main/directory"
        api = Api(f"{base}/api/v1", context)
        api.token = api.call("POST", "/auth/token", form={"username": "admin", "password": PASSWORD})["access_token"]
        with urllib.request.urlopen(url, context=context, timeout=30) as r:
            listed = json.loads(r.read())
        assert listed["newAccount"].startswith(base), listed
        assert directory["url"].endswith("/acme/main/directory"), directory

        def eab():
            k = api.call("POST", f"/acme-directories/{directory['id']}/eab-keys", {})
            return k["kid"], k["hmac_key"]

        if "certbot" in wanted:
            certbot = certbot_binary()
            cb_dir = os.path.join(work, "certbot")
            common = ["--server", url, "--config-dir", f"{cb_dir}/etc", "--work-dir", f"{cb_dir}/work",
                      "--logs-dir", f"{cb_dir}/logs", "--non-interactive"]
            cb_env = {"REQUESTS_CA_BUNDLE": root_path}
            step("certbot: account with EAB, http-01 (--standalone)")
            kid, hmac = eab()
            run([certbot, "certonly", "--standalone", "--http-01-port", str(http_port),
                 "--http-01-address", "127.0.0.1", "--agree-tos", "-m", "ops@example.com",
                 f"--eab-kid={kid}", f"--eab-hmac-key={hmac}", "--key-type", "ecdsa",
                 "-d", "certbot.example.com", "--cert-name", "web"] + common, env=cb_env)
            web = f"{cb_dir}/etc/live/web"
            leaf = check_chain("certbot http-01", f"{web}/fullchain.pem", root_path, ["certbot.example.com"], work)

            step("certbot: dns-01 through --manual hooks, a wildcard and its base name")
            auth_hook, clean_hook = os.path.join(work, "auth-hook.sh"), os.path.join(work, "clean-hook.sh")
            write_hook(auth_hook, dns.mgmt, "set")
            write_hook(clean_hook, dns.mgmt, "clear")
            run([certbot, "certonly", "--manual", "--preferred-challenges", "dns",
                 "--manual-auth-hook", auth_hook, "--manual-cleanup-hook", clean_hook,
                 "-d", "*.wild.example.com", "-d", "wild.example.com", "--cert-name", "wild"] + common,
                env=cb_env)
            check_chain("certbot dns-01", f"{cb_dir}/etc/live/wild/fullchain.pem", root_path,
                        ["*.wild.example.com", "wild.example.com"], work)

            step("certbot: renew asks the server (ARI): a fresh certificate is not due")
            wild_leaf = f"{cb_dir}/etc/live/wild/cert.pem"
            before_wild = serial_of(wild_leaf)
            out = run([certbot, "renew", "--cert-name", "wild", "--no-random-sleep-on-renew"] + common,
                      env=cb_env).stdout
            if serial_of(wild_leaf) != before_wild or "not due for renewal" not in out:
                raise Failure(f"a fresh certificate was renewed, or certbot said otherwise:\n{out}")
            if "acme_renewal_info" not in open(f"{cb_dir}/etc/renewal/wild.conf").read():
                raise Failure("certbot did not consult the server's renewal information (ARI)")

            step("certbot: revoke (key compromise); the CRL lists it")
            revoked = serial_of(leaf)
            run([certbot, "revoke", "--cert-path", f"{web}/cert.pem", "--reason", "keycompromise",
                 "--no-delete-after-revoke"] + common, env=cb_env)
            if revoked not in crl_serials(leaf, base, context):
                raise Failure("the certificate certbot revoked is not in the CRL")

            step("certbot: renew; the server's renewal window for a revoked certificate is now (ARI)")
            run([certbot, "renew", "--cert-name", "web", "--no-random-sleep-on-renew"] + common, env=cb_env)
            renewed = check_chain("certbot renewed", f"{web}/fullchain.pem", root_path, ["certbot.example.com"], work)
            if serial_of(renewed) == revoked:
                raise Failure("certbot did not renew the revoked certificate at once")

        if "lego" in wanted:
            lego = shutil.which("lego") or "/usr/bin/lego"
            lego_env = {"LEGO_CA_CERTIFICATES": root_path}
            lego_dir = os.path.join(work, "lego")
            for label, names, flags in [
                ("lego tls-alpn-01", ["lego-tls.example.com"], ["--tls", "--tls.port", f"127.0.0.1:{tls_port}"]),
                ("lego http-01", ["lego-http.example.com"], ["--http", "--http.port", f"127.0.0.1:{http_port}"]),
                ("lego dns-01", ["lego-dns.example.com"], ["--dns", "exec", "--dns.resolvers", f"127.0.0.1:{dns.dns}",
                                                            "--dns.disable-cp"]),
            ]:
                step(f"{label} with EAB")
                kid, hmac = eab()
                exec_path = os.path.join(work, "lego-exec.sh")
                write_lego_exec(exec_path, dns.mgmt)
                path = f"{lego_dir}/{names[0]}"
                run([lego, "--server", url, "--email", "ops@example.com", "--accept-tos", "--eab",
                     f"--kid={kid}", f"--hmac={hmac}", "--path", path, "--key-type", "ec256"]
                    + [a for n in names for a in ("--domains", n)] + flags + ["run"],
                    env={**lego_env, "EXEC_PATH": exec_path})
                check_chain(label, f"{path}/certificates/{names[0]}.crt", root_path, names, work)

        if "caddy" in wanted:
            step("Caddy: automatic HTTPS from our directory, then a real HTTPS request to it")
            caddy = shutil.which("caddy") or "/usr/bin/caddy"
            kid, hmac = eab()
            caddy_dir = os.path.join(work, "caddy")
            os.makedirs(caddy_dir, exist_ok=True)
            caddyfile = os.path.join(caddy_dir, "Caddyfile")
            open(caddyfile, "w").write(f"""{{
    admin off
    storage file_system {caddy_dir}/storage
    acme_ca {url}
    acme_ca_root {root_path}
    acme_eab {{
        key_id {kid}
        mac_key {hmac}
    }}
    email ops@example.com
    http_port {http_port}
    https_port {tls_port}
}}
caddy.example.com {{
    respond "hello from caddy"
}}
""")
            log = open(os.path.join(caddy_dir, "caddy.log"), "w")
            proc = subprocess.Popen([caddy, "run", "--config", caddyfile, "--adapter", "caddyfile"],
                                    env={**os.environ, "HOME": caddy_dir, "XDG_DATA_HOME": caddy_dir,
                                         "XDG_CONFIG_HOME": caddy_dir},
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                body, deadline = None, time.time() + 120
                while time.time() < deadline:
                    p = run(["curl", "-fsS", "--cacert", root_path, "--resolve",
                             f"caddy.example.com:{tls_port}:127.0.0.1",
                             f"https://caddy.example.com:{tls_port}/"], check=False, timeout=20)
                    if p.returncode == 0:
                        body = p.stdout
                        break
                    if proc.poll() is not None:
                        raise Failure(f"caddy exited:\n{open(log.name).read()[-3000:]}")
                    time.sleep(1)
                if body is None or "hello from caddy" not in body:
                    raise Failure(f"no HTTPS answer from Caddy:\n{open(log.name).read()[-3000:]}")
                print("   Caddy answered over HTTPS with a certificate from our directory", flush=True)
                served = os.path.join(work, "caddy-served.pem")
                p = subprocess.run(f"openssl s_client -connect 127.0.0.1:{tls_port} -servername caddy.example.com "
                                   f"-showcerts </dev/null 2>/dev/null", shell=True, capture_output=True, text=True)
                open(served, "w").write("\n".join(pem_blocks(p.stdout)) + "\n")
                check_chain("caddy", served, root_path, ["caddy.example.com"], work)
            finally:
                proc.terminate()
                proc.wait(10)
        ok = True
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"--- server log (tail)\n{open(server.log).read()[-4000:]}", file=sys.stderr)
    finally:
        server.stop()
        dns.stop()
        drop_database()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"(work directory kept: {work})", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
