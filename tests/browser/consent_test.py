"""Trove's consent pages in a real browser: Debian's chromium, driven through chromedriver.

Starts `trove serve` on a loopback port and a callback page on another, registers an app with
`trove admin`, signs authorize requests as an app would, and walks the pages in headless
chromium: creating a library with the keyboard alone and allowing, denying in Dutch, and
signing in after a wrong password with Dutch chosen by the browser's Accept-Language.

Prints one line per check and a closing "N passed, N failed" line; exits 1 when a check fails.
Run it through run.sh, which prepares the Python environment and the trove binary.
"""

import http.server
import os
import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import trove

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
APP_NAME = "Browser Test App"
PASSWORD = "correct horse battery"
WAIT_SECONDS = 15
# Tab presses allowed to reach a control. The pages have fewer than ten focusable elements.
MAX_TABS = 20


class Report:
    """Prints one line per check and counts the results."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)
        return condition

    def error(self, scenario, exception):
        self.failed += 1
        print(f"FAIL {scenario} stopped: {type(exception).__name__}: {exception}", flush=True)
        traceback.print_exc(file=sys.stderr)


class CallbackServer:
    """A page on 127.0.0.1 that stands in for the app's callback and records every path requested."""

    def __init__(self):
        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = b"<!DOCTYPE html><html lang='en'><title>callback</title><p>Back in the app.</p></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cb"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def new_driver(profile_dir, accept_languages=None):
    """Start headless chromium with a fresh profile and no background network traffic."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(argument)
    if accept_languages:
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_languages})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS * 2)
    return driver


def press(driver, *keys):
    """Send keystrokes to whatever element has the focus, as a person typing would."""
    ActionChains(driver).send_keys(*keys).perform()


def active_element(driver):
    return driver.switch_to.active_element


def tab_to(driver, matches):
    """Press Tab until the focused element satisfies `matches`, and return the elements passed."""
    passed = []
    for _ in range(MAX_TABS):
        press(driver, Keys.TAB)
        element = active_element(driver)
        passed.append(element)
        if matches(element):
            return passed
    raise AssertionError(f"{MAX_TABS} Tab presses did not reach the expected control")


def wait_for_path(driver, path):
    WebDriverWait(driver, WAIT_SECONDS).until(lambda current: urlsplit(current.current_url).path == path)


def wait_for_callback(driver, callback_url):
    WebDriverWait(driver, WAIT_SECONDS).until(lambda current: current.current_url.startswith(callback_url))
    return {name: values[0] for name, values in parse_qs(urlsplit(driver.current_url).query).items()}


def page_lang(driver):
    return driver.find_element(By.TAG_NAME, "html").get_attribute("lang")


def button_labels(driver):
    return [button.text for button in driver.find_elements(By.CSS_SELECTOR, "button[type=submit]")]


def decision_buttons(driver):
    return [
        (button.get_attribute("value"), button.text)
        for button in driver.find_elements(By.CSS_SELECTOR, "form[action=consent] button[name=decision]")
    ]


def keyboard_register_and_allow(report, context):
    """English: create a library and allow using only Tab, typing and Enter."""
    server, contract, callback = context["server"], context["contract"], context["callback"]
    pending = trove.begin_authorization(server, contract, state="browser state & é/?")
    driver = new_driver(context["profile"]("keyboard"))
    try:
        driver.get(trove.onboarding_url(server, pending))
        report.check("English start page has lang=en", page_lang(driver) == "en", f"lang={page_lang(driver)!r}")
        report.check(
            "English start page offers sign-in and create",
            button_labels(driver) == ["Sign in", "Create library"],
            f"buttons {button_labels(driver)}",
        )

        tab_to(driver, lambda element: element.get_attribute("id") == "register-username")
        outline = driver.execute_script(
            "const style = getComputedStyle(document.activeElement);"
            "return [style.outlineStyle, style.outlineWidth];"
        )
        report.check(
            "keyboard focus is visibly outlined",
            outline[0] != "none" and outline[1] not in ("0px", ""),
            f"outline {outline}",
        )
        press(driver, context["username"])
        press(driver, Keys.TAB)
        report.check(
            "Tab moves from username to password",
            active_element(driver).get_attribute("id") == "register-password",
            f"focus on #{active_element(driver).get_attribute('id')}",
        )
        press(driver, PASSWORD, Keys.ENTER)
        wait_for_path(driver, "/apps/saas/consent")
        report.check("Enter in the password field creates the library", True)

        heading = driver.find_element(By.TAG_NAME, "h1").text
        report.check("consent page names the application", APP_NAME in heading, f"h1 {heading!r}")
        report.check(
            "consent page names the library",
            context["username"] in driver.find_element(By.TAG_NAME, "main").text,
            "username not shown",
        )
        passed = tab_to(driver, lambda element: element.get_attribute("name") == "decision")
        report.check(
            "Allow is the first decision button in tab order",
            passed[-1].get_attribute("value") == "allow",
            f"first decision button is {passed[-1].get_attribute('value')!r}",
        )
        press(driver, Keys.ENTER)

        parameters = wait_for_callback(driver, callback.url)
        report.check("Allow ends on the callback with success=true", parameters.get("success") == "true", f"{parameters}")
        report.check("callback carries the state as sent", parameters.get("state") == pending.state, f"{parameters}")
        report.check("callback carries a code", bool(parameters.get("code")), f"{parameters}")
        report.check(
            "the callback page was loaded by the browser",
            any(path.startswith("/cb?") and "success=true" in path for path in callback.requests),
            f"callback requests {callback.requests}",
        )
        payload = trove.exchange_code(server, contract, parameters["code"], pending.verifier)
        report.check("the code from the browser exchanges for tokens", bool(payload.get("sub")), f"payload {payload}")
    finally:
        driver.quit()


def dutch_deny(report, context):
    """Dutch by lng=nl: create a library, then deny."""
    server, contract, callback = context["server"], context["contract"], context["callback"]
    pending = trove.begin_authorization(server, contract, state="nl-state")
    driver = new_driver(context["profile"]("dutch"))
    try:
        driver.get(trove.onboarding_url(server, pending, lng="nl"))
        report.check("lng=nl start page has lang=nl", page_lang(driver) == "nl", f"lang={page_lang(driver)!r}")
        report.check(
            "Dutch start page labels its buttons in Dutch",
            button_labels(driver) == ["Inloggen", "Bibliotheek aanmaken"],
            f"buttons {button_labels(driver)}",
        )
        driver.find_element(By.ID, "register-username").send_keys(context["username"] + ".nl")
        driver.find_element(By.ID, "register-password").send_keys(PASSWORD, Keys.ENTER)
        wait_for_path(driver, "/apps/saas/consent")

        report.check("Dutch consent page keeps lang=nl", page_lang(driver) == "nl", f"lang={page_lang(driver)!r}")
        buttons = decision_buttons(driver)
        report.check(
            "Dutch consent page shows Toestaan before Weigeren",
            buttons == [("allow", "Toestaan"), ("deny", "Weigeren")],
            f"buttons {buttons}",
        )
        driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=deny]").click()

        parameters = wait_for_callback(driver, callback.url)
        report.check("Weigeren ends on the callback with success=false", parameters.get("success") == "false", f"{parameters}")
        report.check("deny reports errorCode=USER_CANCEL", parameters.get("errorCode") == "USER_CANCEL", f"{parameters}")
        report.check("deny carries no code", "code" not in parameters, f"{parameters}")
        report.check("deny carries the state", parameters.get("state") == pending.state, f"{parameters}")
    finally:
        driver.quit()


def accept_language_sign_in(report, context):
    """Dutch by Accept-Language: a wrong password, then the right one, then allow."""
    server, contract, callback = context["server"], context["contract"], context["callback"]
    pending = trove.begin_authorization(server, contract, state="sign-in-state")
    driver = new_driver(context["profile"]("accept-language"), accept_languages="nl,en")
    try:
        driver.get(trove.onboarding_url(server, pending))
        report.check("Accept-Language nl gives lang=nl", page_lang(driver) == "nl", f"lang={page_lang(driver)!r}")
        driver.find_element(By.ID, "signin-username").send_keys(context["username"])
        driver.find_element(By.ID, "signin-password").send_keys("not the password", Keys.ENTER)
        WebDriverWait(driver, WAIT_SECONDS).until(lambda current: current.find_elements(By.CSS_SELECTOR, "[role=alert]"))

        alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        report.check("wrong password shows a Dutch error", "klopt niet" in alert, f"alert {alert!r}")
        report.check(
            "wrong password keeps the username",
            driver.find_element(By.ID, "signin-username").get_attribute("value") == context["username"],
            "username field emptied",
        )
        report.check(
            "wrong password puts the focus on the password",
            active_element(driver).get_attribute("id") == "signin-password",
            f"focus on #{active_element(driver).get_attribute('id')}",
        )
        report.check(
            "wrong password sets no session cookie",
            driver.get_cookie("trove_session") is None,
            "trove_session is set",
        )
        press(driver, PASSWORD, Keys.ENTER)
        wait_for_path(driver, "/apps/saas/consent")
        report.check("the right password reaches the consent page", True)
        driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow]").click()

        parameters = wait_for_callback(driver, callback.url)
        report.check("sign-in then Toestaan returns success=true", parameters.get("success") == "true", f"{parameters}")
    finally:
        driver.quit()


def main():
    trove_bin = os.environ.get("TROVE_BIN") or str(Path(__file__).resolve().parents[2] / "target/debug/trove")
    work_dir = Path(tempfile.mkdtemp(prefix="trove-browser-"))
    report = Report()
    callback = CallbackServer()
    server = trove.TroveServer(trove_bin, work_dir / "data", work_dir / "trove.log")
    try:
        server.start()
        key_path = work_dir / "write.pem"
        server.admin("app", "add", "--id", "browser-app", "--name", APP_NAME)
        server.admin(
            "contract", "add", "--app", "browser-app", "--id", "write", "--kind", "write",
            "--generate-key", str(key_path), "--callback", callback.url,
        )
        contract = trove.Contract("browser-app", "write", key_path.read_bytes(), callback.url)
        context = {
            "server": server,
            "contract": contract,
            "callback": callback,
            "username": f"person-{trove.node_nonce()[:8].lower()}",
            "profile": lambda name: work_dir / f"profile-{name}",
        }
        for scenario in (keyboard_register_and_allow, dutch_deny, accept_language_sign_in):
            try:
                scenario(report, context)
            except Exception as exception:  # noqa: BLE001 - report and go on with the next scenario
                report.error(scenario.__name__, exception)
    except Exception as exception:  # noqa: BLE001 - setup failed, nothing else can run
        report.error("setup", exception)
    finally:
        server.stop()
        callback.stop()
        if report.failed:
            print(f"server log kept in {work_dir / 'trove.log'}", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
