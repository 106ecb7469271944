"""The main server instance: registration, then every check in the order the flows need."""

import json
import os
import stat

from checks_authorization import AuthorizationChecks
from checks_library import LibraryChecks
from checks_isolation import IsolationChecks
from report import expect, need
from shapes import check_error_response
from signing import Contract, generate_private_key_pem, public_key_pkcs1_pem
from trove_process import TroveServer, run_admin
from wire import Api

# Small enough that the oversize pushes stay quick, large enough for every ordinary push here.
MAX_UPLOAD_BYTES = 1024 * 1024

APP_A = "conf-a"
APP_B = "conf-b"


def callbacks_for(app_id):
    """An https callback and the custom scheme iOS uses, so non-HTTP redirect URIs get exercised."""
    return [f"https://{app_id}.example/callback", f"digime-ca-{app_id}://auth"]


class MainServerChecks(AuthorizationChecks, LibraryChecks, IsolationChecks):
    """Checks against one server started with default lifetimes and a 1 MiB upload limit."""

    def __init__(self, report, trove_bin, workdir):
        self.report = report
        self.trove_bin = trove_bin
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "main-data")
        self.keys_dir = os.path.join(workdir, "main-keys")
        os.makedirs(self.keys_dir, exist_ok=True)
        # trove admin works on an existing data directory only (docs/cli.md).
        os.makedirs(self.data_dir, exist_ok=True)
        self.server = None
        self.api = None
        self.contracts = {}
        self.error_references = []
        self.pushed = []
        self.jwks_keys = None

    # --- helpers shared by the mixins -------------------------------------------------------

    def check(self, name, function, *args, **kwargs):
        return self.report.check(name, function, *args, **kwargs)

    def expect_error(self, response, allowed):
        """check_error_response, also keeping the reference for the server-log check."""
        body = check_error_response(response, allowed)
        self.error_references.append(body["error"]["reference"])
        return body

    def contract(self, name):
        return need(self.contracts.get(name), f"the registered contract {name}")

    # --- registration and start -------------------------------------------------------------

    def register_contract(self, app_id, contract_id, kind, own_key=False, pkcs1=False):
        """Register a contract with `trove admin`; return it with the private key to sign with.

        With `own_key` the suite generates the key and passes its public half as SPKI PEM, or as
        PKCS#1 PEM when `pkcs1` is true. Otherwise `--generate-key` makes the key.
        """
        callbacks = callbacks_for(app_id)
        callback_arguments = [argument for url in callbacks for argument in ("--callback", url)]
        if own_key:
            private_pem = generate_private_key_pem()
            contract = Contract(app_id, contract_id, kind, private_pem, callbacks)
            public_path = os.path.join(self.keys_dir, f"{app_id}-{contract_id}.pub.pem")
            with open(public_path, "wb") as public_file:
                public_file.write(public_key_pkcs1_pem(private_pem) if pkcs1 else contract.public_key_pem)
            key_arguments = ["--public-key", public_path]
        else:
            private_path = os.path.join(self.keys_dir, f"{app_id}-{contract_id}.pem")
            key_arguments = ["--generate-key", private_path]
        run_admin(self.trove_bin, self.data_dir, "contract", "add", "--app", app_id, "--id", contract_id,
                  "--kind", kind, *key_arguments, *callback_arguments)
        if not own_key:
            expect(os.path.exists(private_path), f"`contract add --generate-key {private_path}` wrote no key file")
            with open(private_path, "rb") as private_file:
                contract = Contract(app_id, contract_id, kind, private_file.read(), callbacks)
        return contract

    def register_app_a(self):
        run_admin(self.trove_bin, self.data_dir, "app", "add", "--id", APP_A, "--name", "Conformance App A")
        self.contracts["w1"] = self.register_contract(APP_A, "write-1", "write")
        self.contracts["w2"] = self.register_contract(APP_A, "write-2", "write", own_key=True)
        self.contracts["rr1"] = self.register_contract(APP_A, "read-raw-1", "read-raw")
        self.contracts["rd1"] = self.register_contract(APP_A, "read-1", "read")
        self.contracts["w3"] = self.register_contract(APP_A, "write-3", "write", own_key=True, pkcs1=True)
        return True

    def check_generated_key_file(self):
        path = os.path.join(self.keys_dir, f"{APP_A}-write-1.pem")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        expect(mode == 0o600, f"{path} has mode {oct(mode)}, expected 0o600")
        with open(path, "rb") as key_file:
            text = key_file.read()
        expect(text.startswith(b"-----BEGIN RSA PRIVATE KEY-----"), "generated key is not PKCS#1 PEM")
        bits = self.contract("w1").private_key.key_size
        expect(bits == 2048, f"generated key has {bits} bits, expected 2048")

    def check_contract_list(self):
        output = run_admin(self.trove_bin, self.data_dir, "contract", "list", "--app", APP_A)
        lines = [line for line in output.splitlines() if line.strip()]
        expect(len(lines) == 5, f"contract list printed {len(lines)} lines, expected one per contract (5)")
        values = set()
        for line in lines:
            record = json.loads(line)
            expect(isinstance(record, dict), f"contract list line is not a JSON object: {line[:80]}")
            values.update(value for value in record.values() if isinstance(value, str))
        for contract_id in ("write-1", "write-2", "read-raw-1", "read-1", "write-3"):
            expect(contract_id in values, f"contract list does not mention {contract_id}")

    def start_server(self):
        self.server = TroveServer(
            self.trove_bin, self.data_dir, os.path.join(self.workdir, "main-server.log"),
            ["--max-upload-bytes", str(MAX_UPLOAD_BYTES)],
        )
        self.server.start()
        self.api = Api(self.server.api_base)
        return True

    def register_app_b_while_serving(self):
        need(self.server, "a running server")
        run_admin(self.trove_bin, self.data_dir, "app", "add", "--id", APP_B, "--name", "Conformance App B")
        self.contracts["b_rr"] = self.register_contract(APP_B, "read-raw-b", "read-raw")
        self.contracts["b_w"] = self.register_contract(APP_B, "write-b", "write")
        return True

    # --- closing checks ---------------------------------------------------------------------

    def check_references_logged(self):
        expect(self.error_references, "no error response was collected")
        log = self.server.read_log()
        missing = [reference for reference in self.error_references if reference not in log]
        expect(not missing, f"{len(missing)} of {len(self.error_references)} error references are not in the "
                            f"server log, for example {missing[:1]}")

    def check_references_unique(self):
        expect(len(self.error_references) >= 2, "fewer than two error responses were collected")
        duplicates = len(self.error_references) - len(set(self.error_references))
        expect(duplicates == 0, f"{duplicates} error references repeat an earlier one")

    def check_single_stdout_line(self):
        self.server.stop()
        expect(self.server.extra_stdout.strip() == "",
               f"serve printed more on stdout after the listening line: {self.server.extra_stdout[:120]!r}")

    # --- order ------------------------------------------------------------------------------

    def run(self):
        try:
            self._run()
        finally:
            if self.server is not None:
                self.server.stop()

    def _run(self):
        check = self.check
        if not check("admin registers app and contracts", self.register_app_a):
            return
        check("admin --generate-key writes PKCS#1 0600", self.check_generated_key_file)
        check("admin contract list prints JSON lines", self.check_contract_list)
        if not check("serve prints listening line", self.start_server):
            return
        check("admin registers while serving", self.register_app_b_while_serving)

        # Round one: a write contract's consent creates the library, it pushes, and a read-raw
        # contract linked with the write contract's token reads everything back.
        self.run_token_and_consent_checks()
        self.run_request_authentication_checks()
        self.run_first_push_checks(MAX_UPLOAD_BYTES)
        self.run_first_read_checks()
        self.run_consent_failure_checks()
        self.run_contract_kind_checks()
        self.run_refresh_checks()
        # Round two: more pushes into the existing library, then a fresh read-raw link.
        self.run_second_round_checks()
        self.run_criteria_checks()
        self.run_isolation_checks()
        self.run_route_checks()
        self.run_recorded_token_checks()
        self.run_code_reuse_check()

        check("error references are in server log", self.check_references_logged)
        check("error references are unique", self.check_references_unique)
        check("serve prints one stdout line", self.check_single_stdout_line)
