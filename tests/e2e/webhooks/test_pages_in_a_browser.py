"""A person clicking through the emulator's pages in a real browser
(headless Chromium from Debian's packages, driven by selenium), with the
service following through webhooks alone: pay at checkout, land on the
app's success page, be entitled; cancel in the portal, stay entitled until
the period's end. A screenshot of each page goes into the test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from billing.v1 import billing_pb2
from tests.e2e.services import wait_until
from tests.e2e.webhooks.conftest import WebhookStack
from tests.e2e.webhooks.test_webhook_flow import flushed

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Bounds, not measures: a loaded machine renders pages and applies webhooks slowly.
PAGE_TIMEOUT_S = 30
WEBHOOK_TIMEOUT_S = 60

Shoot = Callable[[str], Path]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the browser test needs Debian's chromium "
            "and chromium-driver packages, which scripts/bootstrap installs"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1000,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shoot(browser: WebDriver, tmp_path: Path) -> Shoot:
    def save(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        assert browser.save_screenshot(str(path)), f"no screenshot of {name}"
        print(f"screenshot: {path}")
        return path

    return save


def wait_for(browser: WebDriver, condition: Callable[[WebDriver], bool], what: str) -> None:
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(condition, f"{what} within {PAGE_TIMEOUT_S}s")


def start_checkout(stack: WebhookStack, account_id: str) -> billing_pb2.CreateCheckoutResponse:
    return stack.stub().CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro"), timeout=10
    )


def pay(browser: WebDriver, url: str, card: str) -> None:
    browser.get(url)
    field = browser.find_element(By.ID, "card_number")
    field.send_keys(card)
    browser.find_element(By.ID, "pay").click()


def test_pay_at_checkout_then_cancel_in_the_portal(
    calm: WebhookStack, browser: WebDriver, shoot: Shoot, account_id: str
) -> None:
    session = start_checkout(calm, account_id)
    browser.get(session.url)
    assert browser.find_element(By.CSS_SELECTOR, ".plan").text == "Pro"
    assert "USD / month" in browser.find_element(By.TAG_NAME, "table").text
    shoot("checkout")

    pay(browser, session.url, "4242 4242 4242 4242")

    success = f"{calm.front_end}/billing/done?session_id={session.session_id}"
    wait_for(browser, lambda b: b.current_url == success, f"the success page {success}")
    assert session.session_id in browser.find_element(By.ID, "landed").text
    shoot("success")
    wait_until(lambda: calm.check(account_id).allowed, WEBHOOK_TIMEOUT_S, "CheckPlan to allow")

    portal = calm.stub().CreatePortalSession(
        billing_pb2.CreatePortalSessionRequest(account_id=account_id), timeout=10
    )
    browser.get(portal.url)
    assert browser.find_element(By.CSS_SELECTOR, ".plan").text == "Pro"
    shoot("portal")
    browser.find_element(By.ID, "cancel_plan").click()
    wait_for(
        browser, lambda b: "Cancels on" in b.page_source, "the portal to show the cancellation"
    )
    shoot("portal-canceled")

    def cancellation_applied() -> bool:
        sub = (
            calm.stub()
            .GetSubscription(billing_pb2.GetSubscriptionRequest(account_id=account_id), timeout=5)
            .subscription
        )
        return sub.cancel_at_period_end

    wait_until(cancellation_applied, WEBHOOK_TIMEOUT_S, "the cancellation to reach the service")
    answer = calm.check(account_id)
    sub = (
        calm.stub()
        .GetSubscription(billing_pb2.GetSubscriptionRequest(account_id=account_id), timeout=5)
        .subscription
    )
    # The policy: a subscription set to cancel entitles until its period ends.
    assert answer.allowed
    assert answer.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
    assert answer.valid_until == sub.current_period_end

    browser.find_element(By.ID, "return").click()
    wait_for(browser, lambda b: b.current_url == f"{calm.front_end}/account", "the app")


def test_a_declined_card_is_shown_and_the_plan_stays_denied(
    calm: WebhookStack, browser: WebDriver, shoot: Shoot, account_id: str
) -> None:
    session = start_checkout(calm, account_id)

    pay(browser, session.url, "4000 0000 0000 9995")

    wait_for(browser, lambda b: bool(b.find_elements(By.ID, "error")), "the decline")
    assert browser.find_element(By.ID, "error").text == "Your card has insufficient funds."
    assert browser.current_url == session.url
    shoot("declined")
    flushed(calm)
    answer = calm.check(account_id)
    assert not answer.allowed
    assert answer.denial_reason == billing_pb2.DENIAL_REASON_NO_SUBSCRIPTION
