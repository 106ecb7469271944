"""A browser without JavaScript on Trove's consent pages: HTML forms, cookies, manual redirects.

The flow follows docs/cli.md: GET /apps/saas/authorize?code=PRE shows sign-in and register forms
(or goes straight to consent for a linked flow), both respond with 303 to /apps/saas/consent?code=PRE,
and the decision form responds with 303 to the contract's callback, which this browser never fetches.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

from report import CheckFailure, expect
from wire import REQUEST_TIMEOUT_SECONDS, new_http_session

MAX_REDIRECTS = 10


@dataclass
class Form:
    action: str
    method: str
    fields: list = field(default_factory=list)  # (name, value, type) of every named input
    buttons: list = field(default_factory=list)  # (name, value) of every named submit control

    def hidden(self, name):
        for field_name, value, field_type in self.fields:
            if field_name == name and field_type == "hidden":
                return value
        return None

    def field_names(self):
        return {name for name, _, _ in self.fields}


class FormParser(HTMLParser):
    """Collect every <form> with its inputs and submit buttons."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: (value if value is not None else "") for name, value in attrs}
        if tag == "form":
            self._current = Form(
                action=attributes.get("action", ""),
                method=attributes.get("method", "get").lower(),
            )
            self.forms.append(self._current)
            return
        if self._current is None or "name" not in attributes:
            return
        if tag == "input":
            input_type = attributes.get("type", "text").lower()
            if input_type in ("submit", "image"):
                self._current.buttons.append((attributes["name"], attributes.get("value", "")))
            else:
                self._current.fields.append((attributes["name"], attributes.get("value", ""), input_type))
        elif tag == "button":
            if attributes.get("type", "submit").lower() == "submit":
                self._current.buttons.append((attributes["name"], attributes.get("value", "")))
        elif tag in ("select", "textarea"):
            self._current.fields.append((attributes["name"], "", tag))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


@dataclass
class Page:
    url: str
    status: int
    text: str
    forms: list

    def form_posting_to(self, path):
        """Return the form whose action resolves to `path` on this origin, or None."""
        for form in self.forms:
            if urlsplit(urljoin(self.url, form.action)).path == path:
                return form
        return None


@dataclass
class AppRedirect:
    """A redirect that leaves the consent app, normally to the contract's callback."""

    location: str

    @property
    def params(self):
        return {name: values[0] for name, values in parse_qs(urlsplit(self.location).query).items()}

    @property
    def without_query(self):
        parts = urlsplit(self.location)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Browser:
    """Keeps cookies and follows 303s itself, stopping at the first redirect off the server."""

    def __init__(self, origin):
        self.origin = origin
        self.http = new_http_session()
        self.http.headers["accept"] = "text/html"
        self.redirects = []  # (status, absolute Location) of the redirects behind the last page

    def open(self, url):
        response = self.http.get(url, allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS)
        return self._follow(url, response)

    def submit(self, page, form, values=None, button=None, drop=()):
        """Submit `form` from `page` with its own fields, `values` over them and one `button`.

        `drop` names fields to leave out, to probe how the server treats a missing field.
        """
        data = []
        overrides = dict(values or {})
        for name, value, _ in form.fields:
            if name in drop:
                continue
            data.append((name, overrides.pop(name, value)))
        data.extend(overrides.items())
        if button is not None:
            data.append(button)
        target = urljoin(page.url, form.action)
        expect(form.method == "post", f"form to {form.action} uses method {form.method!r}, expected post")
        response = self.http.post(target, data=data, allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS)
        return self._follow(target, response)

    def _follow(self, url, response):
        self.redirects = []
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in (301, 302, 303, 307, 308):
                parser = FormParser()
                parser.feed(response.text)
                return Page(url=url, status=response.status_code, text=response.text, forms=parser.forms)
            location = response.headers.get("location")
            expect(location, f"HTTP {response.status_code} from {url} has no Location")
            target = urljoin(url, location)
            self.redirects.append((response.status_code, target))
            if not target.startswith(self.origin + "/"):
                return AppRedirect(location=target)
            url = target
            response = self.http.get(url, allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS)
        raise CheckFailure(f"more than {MAX_REDIRECTS} redirects starting at {url}")
