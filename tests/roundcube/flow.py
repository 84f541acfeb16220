"""Roundcube in headless Chromium against full_server (run by tests/server_roundcube.rs).

Seeds alice's mailbox over IMAP, creates Roundcube's SQLite database, then drives the webmail as
a person would: log in, list folders, see the quota, sort by date, subject and size, search,
thread view, open a multipart message and download its attachment, send a message (checked in
bob's INBOX over IMAP), reply to one, flag a message, delete one and empty the Trash, move one
to another folder, see another client's changes after Refresh, page through a folder of two
pages, and in Settings > Folders create, rename and delete a folder with a non-ASCII name.
Every wait has a timeout. A failing step saves a screenshot and the page source in --tmp and
prints their paths.

Runs under Debian's /usr/bin/python3 (python3-selenium); needs chromium and chromium-driver.
"""

import argparse
import base64
import email
import email.policy
import imaplib
import os
import sqlite3
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 15  # seconds, for any one thing to appear
USER, PASSWORD = "alice@example.org", "alice-pw"
ATTACHMENT = bytes(range(256)) * 12  # binary: every octet value, 3 KiB
BULK = 60  # messages in the folder that takes two pages
UPLOAD = bytes(range(255, -1, -1)) * 4  # what the flow attaches to the message it sends

# (subject, Date header, extra headers, body size) in APPEND order, so UIDs are 1..6.
MESSAGES = [
    ("Quarterly report", "Wed, 3 Jan 2024 10:00:00 +0000", None, None),
    ("apple pie", "Mon, 1 Jan 2024 10:00:00 +0000", "Message-ID: <pie@example.org>", 200),
    (
        "Re: apple pie",
        "Tue, 2 Jan 2024 10:00:00 +0000",
        "Message-ID: <re-pie@example.org>\r\nIn-Reply-To: <pie@example.org>\r\n"
        "References: <pie@example.org>",
        400,
    ),
    ("Zebra crossing", "Fri, 5 Jan 2024 10:00:00 +0000", None, 9000),
    ("banana split", "Thu, 4 Jan 2024 10:00:00 +0000", None, 10),
    ("Move me", "Sat, 6 Jan 2024 10:00:00 +0000", None, 600),
    # "Grüße aus Köln": found by a search for "KÖLN" (RFC 2047 decoded, i;unicode-casemap).
    ("=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Sun, 7 Jan 2024 10:00:00 +0000", None, 100),
]


def multipart(subject, date):
    """A multipart/mixed message: a text part and a binary attachment, base64."""
    b64 = base64.encodebytes(ATTACHMENT).decode().replace("\n", "\r\n")
    return (
        f"From: Carol <carol@example.net>\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        "Message-ID: <report@example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "The figures are attached.\r\n"
        "--b1\r\nContent-Type: application/octet-stream; name=\"figures.bin\"\r\n"
        'Content-Disposition: attachment; filename="figures.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b1--\r\n"
    ).encode()


def raw_message(subject, date, extra, size):
    """A message of MESSAGES as it is appended."""
    if size is None:
        return multipart(subject, date)
    head = f"From: Dave <dave@example.net>\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: {date}\r\n"
    if extra:
        head += extra + "\r\n"
    return (head + "\r\n" + "y" * size + "\r\n").encode()


def seed(port):
    """alice's INBOX gets MESSAGES; a Projects folder, subscribed."""
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(USER, PASSWORD)
    for i, message in enumerate(MESSAGES):
        internal = f'"0{i + 1}-Feb-2024 00:00:00 +0000"'
        typ, data = m.append("INBOX", None, internal, raw_message(*message))
        assert typ == "OK", data
    for box in ("Projects", "Bulk"):
        typ, data = m.create(box)
        assert typ == "OK", data
        typ, data = m.subscribe(box)
        assert typ == "OK", data
    # More than a page (mail_pagesize 50): "Bulk 00" (1 Jan 2023) .. "Bulk 59" (1 Mar 2023).
    for i in range(BULK):
        date = time.strftime("%a, %d %b %Y 10:00:00 +0000", time.gmtime(1672531200 + i * 86400))
        raw = f"From: list@example.net\r\nSubject: Bulk {i:02}\r\nDate: {date}\r\n\r\nz\r\n"
        typ, data = m.append("Bulk", None, None, raw.encode())
        assert typ == "OK", data
    m.logout()


def imap_subjects(port, user, password, box):
    """The subjects in a folder, in UID order."""
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, password)
    typ, data = m.select(box)
    assert typ == "OK", data
    subjects = []
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if isinstance(item, tuple):
            line = item[1].decode().strip()
            subjects.append(line[len("Subject:"):].strip() if line else "")
    m.logout()
    return subjects


def row_id(uid):
    """The id of a message list row: Roundcube's html_identifier() encoding of the UID."""
    b64 = base64.urlsafe_b64encode(str(uid).encode()).decode().rstrip("=")
    return "rcmrow" + b64


class Flow:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/") + "/"
        self.step = "start"
        profile = os.path.join(args.tmp, "chrome-profile")
        self.downloads = os.path.join(args.tmp, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        o = webdriver.ChromeOptions()
        o.binary_location = args.chromium
        for a in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
            f"--user-data-dir={profile}",
        ):
            o.add_argument(a)
        o.add_experimental_option(
            "prefs",
            {
                "download.default_directory": self.downloads,
                "download.prompt_for_download": False,
            },
        )
        self.d = webdriver.Chrome(service=Service(args.chromedriver), options=o)
        self.d.set_page_load_timeout(WAIT * 2)
        self.d.set_script_timeout(WAIT)
        self.d.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads}
        )

    def wait(self, cond, what, timeout=WAIT):
        # Roundcube redraws lists and menus: an element found a moment ago may be gone.
        return WebDriverWait(
            self.d, timeout, ignored_exceptions=(StaleElementReferenceException,)
        ).until(cond, message=f"waiting for {what}")

    def visible(self, css):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), css)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def idle(self):
        """Waits until Roundcube has no request in flight."""
        self.wait(
            lambda d: d.execute_script(
                "return !!window.rcmail && !rcmail.busy && $.active == 0"
            ),
            "Roundcube to finish its requests",
        )

    def fail(self, exc):
        base = os.path.join(self.args.tmp, f"failed-{self.step}")
        try:
            self.d.save_screenshot(base + ".png")
            with open(base + ".html", "w") as f:
                f.write(self.d.page_source)
            print(f"step {self.step!r} failed; screenshot {base}.png, page {base}.html")
        except Exception as e:  # the browser itself may be gone
            print(f"step {self.step!r} failed; no screenshot ({e})")
        traceback.print_exception(exc)

    def row_uids(self):
        """The UIDs of the message list's rows shown, top to bottom (a moved message's row is
        hidden at once, removed later)."""
        return self.js(
            "return $('#messagelist tbody tr:visible').map(function(){"
            " return parseInt(rcmail.html_identifier_decode(this.id.replace('rcmrow', '')), 10) }).get()"
        )

    # --- steps -------------------------------------------------------------------------------

    def login(self):
        self.d.get(self.url)
        self.visible("#rcmloginuser").send_keys(USER)
        self.d.find_element(By.ID, "rcmloginpwd").send_keys(PASSWORD)
        self.d.find_element(By.ID, "rcmloginsubmit").click()
        self.visible("#mailboxlist")
        self.wait(lambda d: len(self.row_uids()) == len(MESSAGES), "the INBOX's messages")
        self.idle()

    def folders(self):
        names = self.js(
            "return $('#mailboxlist li.mailbox > a').map(function(){"
            " return new URL(this.href).searchParams.get('_mbox') }).get()"
        )
        for want in ("INBOX", "Drafts", "Sent", "Junk", "Trash", "Projects", "Bulk"):
            assert want in names, (want, names)

    def list_options(self, col, order, mode="list", rows=len(MESSAGES)):
        """Sets the list's order and mode through the list options dialog, as a person would."""
        self.visible("#listmenulink").click()
        dialog = self.visible(".ui-dialog #listoptions-sortcol-clone").find_element(
            By.XPATH, "ancestor::div[contains(@class, 'ui-dialog')]"
        )
        Select(dialog.find_element(By.ID, "listoptions-sortcol-clone")).select_by_value(col)
        Select(dialog.find_element(By.ID, "listoptions-sortord-clone")).select_by_value(order)
        Select(dialog.find_element(By.ID, "listoptions-threads-clone")).select_by_value(mode)
        dialog.find_element(By.CSS_SELECTOR, "button.mainaction").click()
        self.wait(
            lambda d: d.execute_script(
                "return rcmail.env.sort_col == arguments[0] && rcmail.env.sort_order == arguments[1]"
                " && !!rcmail.env.threading == arguments[2]",
                col,
                order,
                mode == "threads",
            ),
            f"the list sorted by {col} {order} as {mode}",
        )
        self.idle()
        self.wait(lambda d: len(self.row_uids()) == rows, "the list to refill")

    def sorting(self):
        # UIDs: 1 report (3 Jan), 2 apple pie (1 Jan), 3 Re: apple pie (2 Jan), 4 Zebra (5 Jan),
        # 5 banana (4 Jan), 6 Move me (6 Jan), 7 Grüße (7 Jan).
        self.list_options("date", "DESC")
        assert self.row_uids() == [7, 6, 4, 5, 1, 3, 2], self.row_uids()
        self.list_options("date", "ASC")
        assert self.row_uids() == [2, 3, 1, 5, 4, 6, 7], self.row_uids()
        # Base subjects (RFC 5256 §2.1): "Re: apple pie" sorts with "apple pie", after it; the
        # encoded word is decoded before it is compared.
        self.list_options("subject", "ASC")
        assert self.row_uids() == [2, 3, 5, 7, 6, 1, 4], self.row_uids()
        sizes = sorted(range(1, len(MESSAGES) + 1), key=lambda uid: len(raw_message(*MESSAGES[uid - 1])))
        self.list_options("size", "ASC")
        assert self.row_uids() == sizes, (self.row_uids(), sizes)
        self.list_options("size", "DESC")
        assert self.row_uids() == sizes[::-1], (self.row_uids(), sizes)

    def search(self):
        """The quick search: Roundcube searches subject and sender, in UTF-8."""
        box = self.visible("#mailsearchform")
        box.clear()
        box.send_keys("KÖLN" + Keys.ENTER)
        self.wait(lambda d: self.row_uids() == [7], "the search to find the one message")
        self.idle()
        self.visible("#messagelist-header ~ .searchbar a.reset, .searchbar a.reset").click()
        self.wait(lambda d: len(self.row_uids()) == len(MESSAGES), "the search to reset")
        self.idle()

    def threads(self):
        # Threads start collapsed (autoexpand_threads = 0): the reply is hidden under its parent.
        self.list_options("date", "DESC", "threads", rows=len(MESSAGES) - 1)
        uids = self.row_uids()
        assert uids == [7, 6, 4, 5, 1, 2], uids
        depth = self.js(
            "var r = rcmail.message_list.rows; return [r[2].depth, r[3].depth, r[3].parent_uid]"
        )
        assert depth == [0, 1, 2], depth
        self.visible(f"#rcmexpando{row_id(2)}.collapsed").click()
        self.wait(lambda d: 3 in self.row_uids(), "the thread to expand")
        # The reply sits right under the message it answers.
        uids = self.row_uids()
        assert uids == [7, 6, 4, 5, 1, 2, 3], uids
        self.visible(f"#{row_id(2)}.thread.expanded #rcmexpando{row_id(2)}.expanded")
        self.list_options("date", "DESC", "list")

    def attachment(self):
        self.d.get(self.url + "?_task=mail&_mbox=INBOX&_uid=1&_action=show")
        self.visible("#messagebody")
        body = self.d.find_element(By.ID, "messagebody").text
        assert "The figures are attached." in body, body
        link = self.visible("#attachment-list li a.filename")
        assert "figures.bin" in link.text, link.text
        href = link.get_attribute("href")
        url = href.replace("_frame=1", "") + "&_download=1"
        self.d.get(url)
        target = os.path.join(self.downloads, "figures.bin")
        deadline = time.monotonic() + WAIT
        while not os.path.exists(target) or os.path.getsize(target) < len(ATTACHMENT):
            assert time.monotonic() < deadline, (os.listdir(self.downloads), url)
            time.sleep(0.1)
        with open(target, "rb") as f:
            got = f.read()
        assert got == ATTACHMENT, (len(got), got[:32])

    def send(self):
        """Compose with an attachment, save a draft, send: bob gets it, Sent keeps it, the draft
        goes."""
        subject = "Hello from Roundcube"
        upload = os.path.join(self.args.tmp, "notes.bin")
        with open(upload, "wb") as f:
            f.write(UPLOAD)
        self.d.get(self.url + "?_task=mail&_action=compose")
        self.visible("#compose_to .recipient-input input").send_keys("bob@example.org, ")
        self.visible("#compose-subject").send_keys(subject)
        self.visible("#composebody").send_keys("Sent through the webmail.\n")
        self.d.find_element(By.CSS_SELECTOR, '#uploadform input[type="file"]').send_keys(upload)
        self.wait(
            lambda d: d.execute_script(
                "return $('#attachment-list li:not(.uploading)').filter(function() {"
                " return $(this).text().indexOf('notes.bin') >= 0 }).length == 1"
            ),
            "the attachment uploaded",
        )
        self.idle()
        self.shown("a.save.draft", "the Save button").click()
        self.wait(
            lambda d: d.execute_script("return !!rcmail.env.draft_id"), "the draft saved"
        )
        self.idle()
        drafts = imap_subjects(self.args.imap_port, USER, PASSWORD, "Drafts")
        assert drafts == [subject], drafts
        self.shown(".btn.send", "the Send button").click()
        self.wait(lambda d: "_action=compose" not in d.current_url, "the compose screen to close")
        deadline = time.monotonic() + WAIT
        while subject not in imap_subjects(self.args.imap_port, "bob@example.org", "bob-pw", "INBOX"):
            assert time.monotonic() < deadline, "the message did not arrive in bob's INBOX"
            time.sleep(0.2)
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login("bob@example.org", "bob-pw")
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
        m.logout()
        raw = [item for item in data if isinstance(item, tuple)][-1][1]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Subject"] == subject, msg["Subject"]
        parts = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
        assert parts.get("notes.bin") == UPLOAD, parts.keys()
        assert "Sent through the webmail." in msg.get_body(("plain",)).get_content()
        sent = imap_subjects(self.args.imap_port, USER, PASSWORD, "Sent")
        assert sent == [subject], sent
        drafts = imap_subjects(self.args.imap_port, USER, PASSWORD, "Drafts")
        assert drafts == [], drafts

    def reply(self):
        """Reply to dave@example.net (the catch-all delivers it to bob): the original is marked
        \\Answered, the reply refers to it."""
        self.d.get(self.url + "?_task=mail&_mbox=INBOX")
        self.wait(lambda d: 2 in self.row_uids(), "the INBOX")
        self.idle()
        self.select(2)
        self.shown("a.reply:not(.disabled)", "the Reply button").click()
        body = self.visible("#composebody")
        subject = self.visible("#compose-subject").get_attribute("value")
        assert subject == "Re: apple pie", subject
        body.send_keys("Seconds, please.\n")
        self.shown(".btn.send", "the Send button").click()
        self.wait(lambda d: "_action=compose" not in d.current_url, "the compose screen to close")
        deadline = time.monotonic() + WAIT
        while subject not in imap_subjects(self.args.imap_port, "bob@example.org", "bob-pw", "INBOX"):
            assert time.monotonic() < deadline, "the reply did not arrive in bob's INBOX"
            time.sleep(0.2)
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login("bob@example.org", "bob-pw")
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT IN-REPLY-TO)])")
        m.logout()
        heads = [item[1].decode() for item in data if isinstance(item, tuple)]
        assert any("In-Reply-To: <pie@example.org>" in h for h in heads), heads
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login(USER, PASSWORD)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "2", "(FLAGS)")
        m.logout()
        assert typ == "OK" and b"\\Answered" in data[0], data

    def shown(self, css, what=None):
        """The first element shown that matches `css` (toolbars and menus repeat their items)."""
        return self.wait(
            lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), False),
            what or css,
        )

    def open_folder(self, name, rows):
        self.d.find_element(By.CSS_SELECTOR, f'#mailboxlist a[href$="_mbox={name}"]').click()
        self.wait(
            lambda d: d.execute_script("return rcmail.env.mailbox") == name
            and len(self.row_uids()) == rows,
            f"{name} with {rows} messages",
        )
        self.idle()

    def select(self, uid):
        """Clicks a message in the list, which opens it in the preview."""
        self.d.find_element(By.CSS_SELECTOR, f"#{row_id(uid)} td.subject").click()
        self.wait(
            lambda d: [str(u) for u in d.execute_script("return rcmail.message_list.get_selection()")]
            == [str(uid)],
            f"message {uid} selected",
        )
        # The preview opens after a delay; Roundcube ignores commands while it loads.
        self.wait(
            lambda d: d.execute_script(
                "var f = document.getElementById('messagecontframe'),"
                " w = f && f.contentWindow;"
                " return !!(w && w.rcmail && w.rcmail.env.uid == arguments[0]"
                " && w.document.readyState == 'complete' && !w.rcmail.busy)",
                uid,
            ),
            f"message {uid} in the preview",
        )
        self.idle()

    def flag(self):
        """Mark > As flagged."""
        self.d.get(self.url + "?_task=mail&_mbox=INBOX")
        self.wait(lambda d: 4 in self.row_uids(), "the INBOX")
        self.idle()
        self.select(4)
        self.shown("a.markmessage", "the Mark button").click()
        self.shown("#markmessage-menu a.flag.active", "Mark > As flagged").click()
        self.wait(
            lambda d: "flagged" in d.find_element(By.ID, row_id(4)).get_attribute("class"),
            "the row flagged",
        )
        self.idle()
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login(USER, PASSWORD)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "4", "(FLAGS)")
        m.logout()
        assert typ == "OK" and b"\\Flagged" in data[0] and b"\\Seen" in data[0], data

    def delete(self):
        """Delete moves to Trash; the Trash's Empty expunges it."""
        self.select(5)
        self.shown("a.delete:not(.disabled)", "the Delete button enabled").click()
        self.wait(lambda d: 5 not in self.row_uids(), "the message to leave the list")
        self.idle()
        trash = imap_subjects(self.args.imap_port, USER, PASSWORD, "Trash")
        assert trash == ["banana split"], trash
        self.open_folder("Trash", 1)
        self.shown("a.sidebar-menu", "the folder actions").click()
        self.shown("#mailboxoptions-menu a.purge.active", "Empty").click()
        self.shown(".ui-dialog button.mainaction", "the confirmation").click()
        self.wait(lambda d: self.row_uids() == [], "the Trash to empty")
        self.idle()
        trash = imap_subjects(self.args.imap_port, USER, PASSWORD, "Trash")
        assert trash == [], trash

    def move(self):
        """More > Move to... > Projects."""
        self.open_folder("INBOX", len(MESSAGES) - 1)
        self.select(6)
        self.shown("a.more", "the More button").click()
        self.shown("#message-menu a.move.active", "More > Move to").click()
        self.wait(
            lambda d: next(
                (
                    a
                    for a in d.find_elements(By.CSS_SELECTOR, "#folder-selector li a")
                    if a.is_displayed() and a.text.strip() == "Projects"
                ),
                False,
            ),
            "Projects in the folder selector",
        ).click()
        self.wait(lambda d: 6 not in self.row_uids(), "the message to leave the list")
        self.idle()
        self.open_folder("Projects", 1)
        assert self.row_uids() == [1], self.row_uids()
        assert imap_subjects(self.args.imap_port, USER, PASSWORD, "Projects") == ["Move me"]
        assert "Move me" not in imap_subjects(self.args.imap_port, USER, PASSWORD, "INBOX")

    def folder_form(self, name):
        """Types a name into the folder form (in the settings' content frame) and saves it."""
        self.wait(
            EC.frame_to_be_available_and_switch_to_it((By.ID, "preferences-frame")),
            "the folder form",
        )
        field = self.visible('input[name="_name"]')
        field.clear()
        field.send_keys(name)
        self.shown(".formbuttons button.submit", "the Save button").click()
        self.d.switch_to.default_content()

    def imap_folders(self):
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login(USER, PASSWORD)
        typ, data = m.list()
        m.logout()
        assert typ == "OK", data
        return [line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in data]

    def settings_folder(self, label):
        """The row of a folder in Settings > Folders, by the name shown."""
        return self.wait(
            lambda d: next(
                (
                    li
                    for li in d.find_elements(By.CSS_SELECTOR, "#subscription-table li")
                    if li.is_displayed() and li.text.strip() == label
                ),
                False,
            ),
            f"{label} in Settings > Folders",
        )

    def elsewhere(self):
        """Changes another client makes show after Refresh: a new message, then its \\Seen flag
        (with the message cache, Roundcube learns them through CONDSTORE)."""
        self.open_folder("INBOX", len(MESSAGES) - 2)
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login(USER, PASSWORD)
        raw = b"From: Erin <erin@example.net>\r\nSubject: Fresh news\r\n\r\nNew.\r\n"
        typ, data = m.append("INBOX", None, None, raw)
        assert typ == "OK", data
        uid = int(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))
        self.shown("a.refresh", "the Refresh button").click()
        self.wait(lambda d: uid in self.row_uids(), "the new message after Refresh")
        self.idle()
        assert "unread" in self.d.find_element(By.ID, row_id(uid)).get_attribute("class")
        m.select("INBOX")
        typ, data = m.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
        assert typ == "OK", data
        m.logout()
        self.shown("a.refresh", "the Refresh button").click()
        self.wait(
            lambda d: "unread" not in d.find_element(By.ID, row_id(uid)).get_attribute("class"),
            "the message read after Refresh",
        )
        self.idle()

    def pages(self):
        """A folder of two pages, newest first: the second page holds the ten oldest."""
        self.open_folder("Bulk", 50)
        uids = self.row_uids()
        assert uids == list(range(BULK, BULK - 50, -1)), uids
        count = self.visible("#layout-list .pagenav-text").text
        assert f"of {BULK}" in count, count
        self.shown("a.nextpage:not(.disabled)", "the next page button").click()
        self.wait(lambda d: len(self.row_uids()) == BULK - 50, "the second page")
        self.idle()
        uids = self.row_uids()
        assert uids == list(range(BULK - 50, 0, -1)), uids

    def edit_folder(self, label):
        """Clicks a folder in Settings > Folders and waits for its form: Roundcube ignores
        commands while the form loads."""
        self.settings_folder(label).click()
        self.wait(
            lambda d: d.execute_script(
                "var f = document.getElementById('preferences-frame'),"
                " w = f && f.contentWindow;"
                " return !!(w && w.rcmail && w.document.readyState == 'complete' && !w.rcmail.busy"
                " && w.$('input[name=\"_name\"]').val() == arguments[0])",
                label,
            ),
            f"the form of {label}",
        )
        self.idle()

    def folders_admin(self):
        """Settings > Folders: create a folder with a non-ASCII name (modified UTF-7 on the wire,
        RFC 3501 §5.1.3), rename it, delete it."""
        self.d.get(self.url + "?_task=settings&_action=folders")
        self.shown("#layout-content a.create:not(.disabled)", "the Create button").click()
        self.folder_form("Grüße")
        self.settings_folder("Grüße")
        self.idle()
        names = self.imap_folders()
        assert "Gr&APwA3w-e" in names, names
        self.edit_folder("Grüße")
        self.folder_form("Grüße 2024")
        self.settings_folder("Grüße 2024")
        self.idle()
        names = self.imap_folders()
        assert "Gr&APwA3w-e 2024" in names and "Gr&APwA3w-e" not in names, names
        self.edit_folder("Grüße 2024")
        self.shown("#layout-content a.delete:not(.disabled)", "the Delete button").click()
        self.shown(".ui-dialog button.mainaction", "the confirmation").click()
        self.wait(
            lambda d: not any(
                li.text.strip().startswith("Grüße")
                for li in d.find_elements(By.CSS_SELECTOR, "#subscription-table li")
            ),
            "the folder gone",
        )
        self.idle()
        names = self.imap_folders()
        assert not any(n.startswith("Gr&") for n in names), names

    def quota(self):
        q = self.visible("#quotadisplay")
        text = self.wait(
            lambda d: q.text.strip() if "%" in q.text else False, "the quota to show"
        )
        assert text.endswith("%"), text
        title = q.find_element(By.CSS_SELECTOR, ".count").get_attribute("title") or ""
        print(f"quota shown: {text} ({title})")
        # What the server reports, in KiB, as Roundcube words it ("16 KB / 10 MB (0%)").
        m = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        m.login(USER, PASSWORD)
        typ, data = m.getquotaroot("INBOX")
        m.logout()
        used, limit = data[1][0].decode().split("STORAGE ")[1].rstrip(")").split()[:2]
        want = f"{int(used)} KB / {int(limit) // 1024} MB"
        assert want in title, (want, title)

    def run(self):
        for step in (
            self.login,
            self.folders,
            self.quota,
            self.sorting,
            self.search,
            self.threads,
            self.attachment,
            self.send,
            self.reply,
            self.flag,
            self.delete,
            self.move,
            self.elsewhere,
            self.pages,
            self.folders_admin,
        ):
            self.step = step.__name__
            t = time.monotonic()
            step()
            if self.args.shots:
                self.d.save_screenshot(os.path.join(self.args.tmp, f"step-{self.step}.png"))
            print(f"step {self.step}: ok ({time.monotonic() - t:.1f}s)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--url", required=True)
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--shots", action="store_true", help="a screenshot after every step too")
    args = p.parse_args()
    os.environ["HOME"] = args.tmp  # Chromium writes under $HOME whatever --user-data-dir says
    with open(args.schema) as f:
        schema = f.read()
    db = sqlite3.connect(args.db)
    db.executescript(schema)
    db.close()
    seed(args.imap_port)
    flow = Flow(args)
    try:
        flow.run()
    except Exception as e:
        flow.fail(e)
        sys.exit(1)
    finally:
        flow.d.quit()
    print("roundcube flow ok")


if __name__ == "__main__":
    main()
