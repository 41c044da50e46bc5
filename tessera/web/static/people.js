// What people are told and how they answer back: notices to hand over, a contest of a finding, a complaint,
// the enrolment receipt to print; and, for reviewers, the contests waiting for a re-review.
// Answers are written as text nodes only; the receipt (server HTML) opens in its own tab as a document.

import { NOTICE_WORDS } from "./messages.js";

function field(ui, id, text, tag = "input", maxLength = 200) {
  const { el } = ui;
  const label = el("label", text);
  label.htmlFor = id;
  const node = document.createElement(tag);
  node.id = id;
  node.autocomplete = "off";
  node.maxLength = maxLength;
  if (tag === "textarea") node.rows = 3;
  return [label, node];
}

function button(ui, id, text, kind = "primary", type = "button") {
  const node = ui.el("button", text, kind);
  node.id = id;
  node.type = type;
  return node;
}

function form(ui, id, ...children) {
  const node = document.createElement("form");
  node.id = id;
  node.noValidate = true;
  node.append(...children);
  return node;
}

function build(ui) {
  const { el } = ui;
  const section = el("section", "", "screen");
  section.dataset.screen = "people";
  section.hidden = true;
  section.setAttribute("aria-labelledby", "people-title");
  const title = el("h1", "Notices, contests, complaints");
  title.id = "people-title";

  const notices = el("div");
  notices.id = "people-notices";
  const receipt = form(
    ui,
    "people-receipt-form",
    el("h2", "Enrolment receipt"),
    ...field(ui, "people-receipt-subject", "Number on the person's card, for their receipt", "input", 36),
    button(ui, "people-receipt", "Open the receipt to print", "secondary", "submit"),
  );
  const complaint = form(
    ui,
    "people-complaint-form",
    el("h2", "Record a complaint"),
    ...field(ui, "people-complaint-summary", "What the person complains of, in their words", "textarea", 4000),
    ...field(ui, "people-complaint-subject", "Their Tessera number (only if they want to give it)", "input", 36),
    button(ui, "people-complaint", "Record the complaint", "primary", "submit"),
  );
  const contests = el("div");
  contests.id = "people-contests";

  const result = el("div", "", "result");
  result.id = "people-result";
  result.setAttribute("role", "status");
  result.hidden = true;
  const error = el("div", "", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const back = el("a", "Back", "button secondary");
  back.href = "#home";
  // Each part is shown to the keys whose role may use it (GET /v1/me), so no one meets a button that answers 403.
  const worker = el("div");
  worker.dataset.needs = "subject_access";
  worker.append(
    el("h2", "Notices to hand over"),
    el("p", "Give each person their notice on paper and read it to them. A person who thinks a finding is wrong "
      + "can contest it here; reviewers who did not take the decision look at it again.", "note"),
    button(ui, "people-load-notices", "Show notices for this gallery", "secondary"),
    form(
      ui,
      "people-find-form",
      ...field(ui, "people-find-reference", NOTICE_WORDS.findLabel, "input", 36),
      button(ui, "people-find", NOTICE_WORDS.findButton, "secondary", "submit"),
    ),
    notices,
    receipt,
    complaint,
  );
  const reviewer = el("div");
  reviewer.dataset.needs = "adjudicate";
  reviewer.append(
    el("h2", "Contests to re-review (reviewers)"),
    button(ui, "people-load-contests", "Show contests waiting for me", "secondary"),
    contests,
  );
  const handler = el("div");
  handler.dataset.needs = "handle_complaints";
  const queue = el("div");
  queue.id = "people-complaints";
  handler.append(
    el("h2", "Complaint queue (admin)"),
    button(ui, "people-load-complaints", "Show open complaints", "secondary"),
    queue,
  );
  section.append(title, worker, reviewer, handler, result, error, back);
  return section;
}

/** Add the screen and its home tile; returns the router's entry for it. */
export function installPeople(ui) {
  const { $, el, facts, when, act, showError, problem, state } = ui;
  $("main").append(build(ui));
  const tile = el("a", "Notices and contests", "tile");
  tile.href = "#people";
  tile.id = "go-people";
  tile.append(el("small", "Tell people, hear their contest or complaint"));
  $(".menu").append(tile);

  const done = (message) => {
    const box = $("#people-result");
    box.replaceChildren(el("p", message, "ok"));
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  };

  function noticeCard(notice) {
    const card = el("div", "", "card notice");
    card.dataset.notice = notice.notice_id;
    card.append(
      el("p", notice.text),
      facts([
        ["Notice number", notice.notice_id],
        ...(notice.reference ? [[NOTICE_WORDS.caseNumber, notice.reference]] : []),
        [notice.erased ? NOTICE_WORDS.erasedNumber : "For Tessera number", notice.subject_id],
        ["Made", when(notice.created_at)],
        ["How to complain", notice.how_to_complain],
      ]),
    );
    const handed = el("button", "Mark as handed over", "secondary");
    handed.type = "button";
    handed.addEventListener("click", () => act("people", handed, async () => {
      await state.api.call("POST", `/v1/notices/${encodeURIComponent(notice.notice_id)}/handed-over`);
      handed.replaceWith(el("p", "Handed over to the person.", "ok"));
    }));
    card.append(handed);
    if (notice.can_contest) {
      const id = `grounds-${notice.notice_id}`;
      const [label, grounds] = field(ui, id, "The person contests it: why, in their words", "textarea", 4000);
      const send = el("button", "Open a contest", "primary");
      send.type = "button";
      send.addEventListener("click", () => act("people", send, async () => {
        const text = grounds.value.trim();
        if (text.length < 10) throw problem("field_missing", "Write the person's reasons (10 characters or more).");
        const opened = await state.api.call("POST", "/v1/contests", { json: { notice_id: notice.notice_id, grounds: text } });
        const findings = (opened.contest_ids || [opened.contest_id]).length;
        const each = findings > 1 ? ` Each of the ${findings} findings it contests is re-reviewed on its own.` : "";
        card.replaceChildren(el("p", `Contest ${opened.contest_id} opened.${each} The person will get a notice with its outcome.`, "ok"));
      }));
      card.append(label, grounds, send);
    }
    return card;
  }

  $("#people-load-notices").addEventListener("click", () => act("people", $("#people-load-notices"), async () => {
    if (!state.galleryId) throw problem("no_gallery");
    const answer = await state.api.call("GET", `/v1/notices?gallery_id=${encodeURIComponent(state.galleryId)}`);
    const list = $("#people-notices");
    list.replaceChildren(...answer.notices.map(noticeCard));
    if (!answer.notices.length) list.append(el("p", "No notice is waiting to be handed over.", "note"));
  }));

  // A person erased as a duplicate has no record left: their notices are found by the case number they were
  // given (DUP-...) or by their erased Tessera number, handed over or not.
  $("#people-find-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = $("#people-find-reference").value.trim();
    if (!typed) return showError("people", problem("field_missing", NOTICE_WORDS.findMissing));
    return act("people", $("#people-find"), async () => {
      const key = /^DUP-/i.test(typed) ? "reference" : "subject_id";
      const answer = await state.api.call("GET", `/v1/notices?${key}=${encodeURIComponent(typed)}`);
      const list = $("#people-notices");
      list.replaceChildren(...answer.notices.map(noticeCard));
      if (!answer.notices.length) list.append(el("p", NOTICE_WORDS.noneFound, "note"));
    });
  });

  $("#people-receipt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const subject = $("#people-receipt-subject").value.trim();
    if (!subject) return showError("people", problem("field_missing", "Type the person's Tessera number."));
    // Opened before the answer arrives, so that the browser lets it open; filled when the receipt comes.
    const tab = window.open("", "_blank");
    return act("people", $("#people-receipt"), async () => {
      const response = await fetch(`/v1/subjects/${encodeURIComponent(subject)}/receipt`, {
        headers: state.api.headers(), cache: "no-store", credentials: "omit",
      });
      if (!response.ok) {
        if (tab) tab.close();
        const body = await response.json().catch(() => ({}));
        throw problem((body.error && body.error.code) || `http_${response.status}`, (body.error && body.error.message) || "");
      }
      const page = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
      if (tab) tab.location.href = page;
      done("The receipt is open in a new tab: print it or show it to the person.");
    });
  });

  $("#people-complaint-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.galleryId) return showError("people", problem("no_gallery"));
    const summary = $("#people-complaint-summary").value.trim();
    const subject = $("#people-complaint-subject").value.trim();
    if (summary.length < 10) return showError("people", problem("field_missing", "Write the complaint (10 characters or more)."));
    return act("people", $("#people-complaint"), async () => {
      const json = { gallery_id: state.galleryId, summary };
      if (subject) json.subject_id = subject;
      const filed = await state.api.call("POST", "/v1/complaints", { json });
      $("#people-complaint-form").reset();
      done(`Complaint ${filed.complaint_id} recorded. Give the person this number.`);
    });
  });

  function contestCard(contest) {
    const card = el("div", "", "card contest");
    card.dataset.contest = contest.contest_id;
    card.append(el("p", `The person says: “${contest.grounds}”`), facts([["Opened", when(contest.opened_at)]]));
    if (contest.reference_image) {
      const image = document.createElement("img");
      image.alt = "The enrolled person's reference photo";
      image.src = contest.reference_image;
      image.className = "reference";
      card.append(image);
    }
    const [label, rationale] = field(ui, `rationale-${contest.contest_id}`, "Why (your own words)", "textarea", 2000);
    card.append(label, rationale);
    for (const [decision, words] of [["confirm", "It matches: keep the finding"], ["reject", "It does not match: correct it"]]) {
      const choose = el("button", words, decision === "reject" ? "danger" : "primary");
      choose.type = "button";
      choose.addEventListener("click", () => act("people", choose, async () => {
        const answer = await state.api.call("POST", `/v1/contests/${encodeURIComponent(contest.contest_id)}/decision`, {
          json: { decision, rationale: rationale.value.trim() },
        });
        card.replaceChildren(el("p", answer.outcome ? `Decided: ${answer.outcome}.` : "Recorded. Another reviewer decides too.", "ok"));
      }));
      card.append(choose);
    }
    return card;
  }

  $("#people-load-contests").addEventListener("click", () => act("people", $("#people-load-contests"), async () => {
    const answer = await state.api.call("GET", "/v1/contests");
    const list = $("#people-contests");
    list.replaceChildren(el("p", answer.notice, "note"), ...answer.contests.map(contestCard));
    if (!answer.contests.length && !answer.training_required) list.append(el("p", "No contest is waiting for you.", "note"));
  }));

  const LATE = { acknowledgement: "not acknowledged in time", resolution: "not resolved in time" };

  function complaintCard(complaint) {
    const card = el("div", "", "card complaint");
    card.dataset.complaint = complaint.complaint_id;
    card.append(
      el("p", complaint.summary),
      facts([
        ["Complaint number", complaint.complaint_id],
        ["Status", complaint.status],
        ["Opened", when(complaint.opened_at)],
        ["Overdue", complaint.overdue.map((limit) => LATE[limit] || limit).join(", ")],
      ]),
    );
    if (complaint.overdue.length) card.classList.add("overdue");
    const move = (status, note = "") => act("people", null, async () => {
      const moved = await state.api.call("POST", `/v1/complaints/${encodeURIComponent(complaint.complaint_id)}/status`, {
        json: { status, note },
      });
      card.replaceWith(complaintCard(moved));
    });
    if (complaint.status === "open") {
      const acknowledge = el("button", "Acknowledge", "primary");
      acknowledge.type = "button";
      acknowledge.addEventListener("click", () => move("acknowledged"));
      card.append(acknowledge);
    } else if (complaint.status === "acknowledged") {
      const [label, note] = field(ui, `note-${complaint.complaint_id}`, "What was done, or why it is rejected", "textarea", 4000);
      const resolve = el("button", "Resolved", "primary");
      resolve.type = "button";
      resolve.addEventListener("click", () => move("resolved", note.value.trim()));
      const reject = el("button", "Rejected", "secondary");
      reject.type = "button";
      reject.addEventListener("click", () => move("rejected", note.value.trim()));
      card.append(label, note, resolve, reject);
    }
    return card;
  }

  $("#people-load-complaints").addEventListener("click", () => act("people", $("#people-load-complaints"), async () => {
    const answer = await state.api.call("GET", "/v1/complaints");
    const list = $("#people-complaints");
    const limits = `Acknowledge within ${answer.limits.acknowledge_days} days, close within ${answer.limits.resolve_days}.`;
    list.replaceChildren(el("p", `${limits} Overdue now: ${answer.overdue}.`, "note"), ...answer.complaints.map(complaintCard));
  }));

  return {
    people: async () => {
      $("#people-result").hidden = true;
      try {
        const me = await state.api.call("GET", "/v1/me");
        for (const part of document.querySelectorAll('[data-screen="people"] [data-needs]')) {
          part.hidden = !me.permissions.includes(part.dataset.needs);
        }
      } catch {
        // Unknown role: show every part; the server still refuses what the key may not do.
      }
    },
  };
}
