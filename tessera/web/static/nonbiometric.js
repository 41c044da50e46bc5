// The console's path for a person served without biometrics: register with a programme id and the reason the
// person or worker chose (never guessed), then find them again by that id and record that they were served.
// Nothing here takes a photo: this screen never opens the camera. A key that may erase can record the person's
// withdrawal of a record it shows, after a confirmation, and hand them the receipt.

import { WITHDRAW_RECORD_WORDS as WITHDRAW } from "./messages.js";

const REASONS = [
  ["declined", "The person chose not to give their face or fingerprints"],
  ["cannot_be_captured", "Their face or fingerprints cannot be taken"],
  ["other", "Another reason (nothing more is recorded)"],
];

/** The screen's fixed markup (no server data in it: answers are written as text nodes). */
function build(ui) {
  const { el } = ui;
  const section = el("section", "", "screen");
  section.dataset.screen = "nonbiometric";
  section.hidden = true;
  section.setAttribute("aria-labelledby", "nb-title");
  const title = el("h1", "Without biometrics");
  title.id = "nb-title";
  section.append(
    title,
    el("p", "For a person who does not give their face or fingerprints, or whose cannot be taken. They are "
      + "helped the same way: they are found again by their programme card."),
  );

  const register = el("form");
  register.id = "nb-register-form";
  register.noValidate = true;
  register.append(label("nb-programme", "Programme id or card number"), input("nb-programme", 100));
  const reasons = el("fieldset");
  reasons.append(el("legend", "Why, as the person or you choose it"));
  for (const [value, words] of REASONS) {
    const choice = el("label", "", "check");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "nb-reason";
    radio.value = value;
    choice.append(radio, document.createTextNode(` ${words}`));
    reasons.append(choice);
  }
  const registerButton = el("button", "Register without biometrics", "primary");
  registerButton.type = "submit";
  register.append(reasons, registerButton);

  const serve = el("form");
  serve.id = "nb-serve-form";
  serve.noValidate = true;
  const serveButton = el("button", "Find and record service", "primary");
  serveButton.type = "submit";
  serve.append(
    el("h2", "Serve a person registered without biometrics"),
    label("nb-serve-programme", "Programme id or card number"),
    input("nb-serve-programme", 100),
    label("nb-serve-record", "Record number (if the person has it)"),
    input("nb-serve-record", 36),
    serveButton,
  );

  const admin = el("details", "", "card");
  admin.id = "nb-admin";
  const allow = el("button", "Allow registering without biometrics in this gallery", "secondary");
  allow.id = "nb-allow";
  allow.type = "button";
  admin.append(
    el("summary", "Gallery setting (admin)"),
    allow,
    el("p", "The setting is for new registrations only. If it is turned off later, the people already registered "
      + "without biometrics are still served here."),
  );

  const result = el("div", "", "result");
  result.id = "nb-result";
  result.setAttribute("role", "status");
  result.hidden = true;
  const error = el("div", "", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const back = el("a", "Back", "button secondary");
  back.href = "#home";
  section.append(register, serve, admin, result, error, back);
  return section;
}

function label(forId, text) {
  const node = document.createElement("label");
  node.htmlFor = forId;
  node.textContent = text;
  return node;
}

function input(id, maxLength) {
  const node = document.createElement("input");
  node.id = id;
  node.autocomplete = "off";
  node.autocapitalize = "off";
  node.spellcheck = false;
  node.maxLength = maxLength;
  return node;
}

/** Add the screen and its home tile; returns the router's entry for it. */
export function installNonBiometric(ui) {
  const { $, el, facts, when, act, showError, problem, state } = ui;
  const section = build(ui);
  $("main").append(section);
  const tile = el("a", "Without biometrics", "tile");
  tile.href = "#nonbiometric";
  tile.id = "go-nonbiometric";
  tile.append(el("small", "Register or serve a person with no photo"));
  $(".menu").append(tile);

  const show = (headline, record) => {
    const box = $("#nb-result");
    box.replaceChildren(
      el("p", headline, "ok"),
      facts([
        ["Record number", record.record_id],
        ["Programme id", record.programme_id],
        ["Reason", (REASONS.find(([value]) => value === record.reason) || [null, record.reason])[1]],
        ["Registered", when(record.registered_at)],
        ["Served", record.times_served ? `${record.times_served} time(s), last ${when(record.last_served_at)}` : "not yet"],
      ]),
    );
    if (state.permissions && state.permissions.has("erase")) box.append(withdrawal(record));
    box.hidden = false;
  };

  /** The Withdraw action for a record shown: asks first, then erases it and shows the receipt. */
  const withdrawal = (record) => {
    const ask = el("button", WITHDRAW.button, "danger");
    ask.type = "button";
    ask.id = "nb-withdraw";
    const confirm = el("div", "", "card confirm");
    confirm.id = "nb-withdraw-confirm";
    confirm.setAttribute("role", "alertdialog");
    confirm.setAttribute("aria-labelledby", "nb-withdraw-question");
    confirm.hidden = true;
    const question = el("p", WITHDRAW.question(record.programme_id));
    question.id = "nb-withdraw-question";
    const yes = el("button", WITHDRAW.yes, "danger");
    yes.type = "button";
    const no = el("button", WITHDRAW.no, "secondary");
    no.type = "button";
    confirm.append(question, yes, no);
    ask.addEventListener("click", () => {
      confirm.hidden = false;
      ask.disabled = true;
      no.focus();
    });
    no.addEventListener("click", () => {
      confirm.hidden = true;
      ask.disabled = false;
      ask.focus();
    });
    yes.addEventListener("click", () => act("nonbiometric", yes, async () => {
      const receipt = await state.api.call("DELETE", `/v1/non-biometric/${encodeURIComponent(record.record_id)}`);
      const box = $("#nb-result");
      box.replaceChildren(
        el("p", WITHDRAW.done, "ok"),
        facts([
          [WITHDRAW.recordNumber, receipt.record_id],
          [WITHDRAW.erasedAt, when(receipt.erased_at)],
          [WITHDRAW.erased, WITHDRAW.erasedWhat],
          [WITHDRAW.auditEntry, `#${receipt.audit_seq}`],
          [WITHDRAW.fingerprint, receipt.receipt_sha256],
        ]),
        el("p", WITHDRAW.keep),
      );
    }));
    const action = el("div");
    action.append(ask, confirm);
    return action;
  };

  const galleryPath = () => encodeURIComponent(state.galleryId);

  $("#nb-register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.galleryId) return showError("nonbiometric", problem("no_gallery"));
    const programmeId = $("#nb-programme").value.trim();
    const reason = $('input[name="nb-reason"]:checked', section);
    if (!programmeId || !reason) {
      return showError("nonbiometric", problem("field_missing", "Type the programme id and choose why."));
    }
    await act("nonbiometric", $("#nb-register-form button"), async () => {
      const record = await state.api.call("POST", "/v1/non-biometric", {
        json: { gallery_id: state.galleryId, programme_id: programmeId, reason: reason.value },
      });
      $("#nb-register-form").reset();
      show("Registered without biometrics. Write the record number on the person's card.", record);
    });
  });

  $("#nb-serve-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.galleryId) return showError("nonbiometric", problem("no_gallery"));
    const programmeId = $("#nb-serve-programme").value.trim();
    const recordId = $("#nb-serve-record").value.trim();
    if (!programmeId) return showError("nonbiometric", problem("field_missing", "Type the programme id."));
    await act("nonbiometric", $("#nb-serve-form button"), async () => {
      const json = { gallery_id: state.galleryId, programme_id: programmeId };
      if (recordId) json.record_id = recordId;
      const record = await state.api.call("POST", "/v1/non-biometric/service", { json });
      $("#nb-serve-form").reset();
      show("Found. The service is recorded.", record);
    });
  });

  $("#nb-allow").addEventListener("click", async () => {
    if (!state.galleryId) return showError("nonbiometric", problem("no_gallery"));
    await act("nonbiometric", $("#nb-allow"), async () => {
      await state.api.call("PUT", `/v1/galleries/${galleryPath()}/non-biometric`, { json: { allowed: true } });
      const box = $("#nb-result");
      box.replaceChildren(el("p", "People can now be registered without biometrics in this gallery.", "ok"));
      box.hidden = false;
    });
  });

  return {
    nonbiometric: () => {
      $("#nb-result").hidden = true;
    },
  };
}
