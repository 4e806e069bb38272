"""The permission probes read real answers (PersonalInfo_GetAll_AllEmployeesByCompany returns
every employee of the first company); at DEBUG the provider logs operation, status and size,
never a SOAP body, so no employee's data lands in a log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle

PERSONAL_INFO = "PersonalInfo_GetAll_AllEmployeesByCompany"
PROBE = f"EmployeeService.{PERSONAL_INFO}"
EMPLOYEE = {
    "BSN": "123456782",
    "FirstName": "Sanne",
    "LastName": "Verhoeven-Zonneveld",
    "EmailPrivate": "sanne.verhoeven@example.nl",
    "TelephoneMobilePrivate": "06-98765432",
    "PlaceOfBirth": "Zierikzee",
}
ANSWER = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<{PERSONAL_INFO}Response xmlns="https://api.nmbrs.nl/soap/v3/EmployeeService">
<{PERSONAL_INFO}Result><PersonalInfoItem><EmployeeId>7001</EmployeeId><EmployeePersonalInfos>
<PersonalInfo_V2><Id>1</Id><EmployeeNumber>1</EmployeeNumber>
{"".join(f"<{name}>{value}</{name}>" for name, value in EMPLOYEE.items())}
<Gender>female</Gender><NationalityCode>1</NationalityCode><IdentificationType>0</IdentificationType>
<BurgerlijkeStaat>0</BurgerlijkeStaat><Naamstelling>0</Naamstelling>
<Birthday>1988-04-17T00:00:00</Birthday></PersonalInfo_V2>
</EmployeePersonalInfos></PersonalInfoItem></{PERSONAL_INFO}Result>
</{PERSONAL_INFO}Response></soap:Body></soap:Envelope>""".encode()

LOGGERS = ("zeep", "zeep.transports", "urllib3", "payroll", "payroll.nmbrs_soap.client")


@pytest.fixture
def nmbrs_with_employees(nmbrs: SandboxHandle) -> Iterator[tuple[str, list[str]]]:
    """The sandbox behind a front that answers the personal-info probe with an employee."""
    asked: list[str] = []

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = self.headers.get("SOAPAction", "")
            asked.append(action)
            if action.strip('"').endswith("/" + PERSONAL_INFO):
                status, content = 200, ANSWER
            else:
                answer = httpx.post(
                    nmbrs.base_url + self.path,
                    content=body,
                    headers={"SOAPAction": action, "Content-Type": self.headers["Content-Type"]},
                )
                status, content = answer.status_code, answer.content
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        # The 22 probes connect at once: the default backlog of 5 drops SYNs on a busy machine,
        # and the retried SYN comes after the provider's connect timeout.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Front)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_no_employee_data_and_no_token_in_debug_logs_of_a_full_check(
    nmbrs_with_employees: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, asked = nmbrs_with_employees
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    provider = SoapNmbrsClient(base_url, connect_timeout=1.0, read_timeout=5.0)
    try:
        check = provider.check_account(Credentials(DEMO_USERNAME, DEMO_TOKEN))
    finally:
        provider.close()

    assert check.missing_permissions == []
    assert any(action.strip('"').endswith(PERSONAL_INFO) for action in asked)
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for value in [*EMPLOYEE.values(), "1988-04-17", DEMO_TOKEN]:
        assert value not in logged
    probe_lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith(f"SOAP {PROBE}")
    ]
    assert len(probe_lines) == 2
    assert probe_lines[0].startswith(f"SOAP {PROBE}: sending ")
    assert probe_lines[1] == f"SOAP {PROBE}: HTTP 200, {len(ANSWER)} bytes"
