// The reviewer's workbench: the case queue, the probe beside each candidate's reference photo, a decision
// (same person / different people / cannot tell) with a rationale, then the next candidate and the next case.
//
// What a reviewer sees is what the API gives them: no subject id, no exact score (a band), nothing of the
// other reviewer's decision. Every case opened is audited by the server.

const DECISIONS = [
  ["confirm", "Same person"],
  ["reject", "Different people"],
  ["cannot_tell", "Cannot tell"],
];
const STALE_REFERENCE_DAYS = 2 * 365; // faces change: an old reference photo is flagged

export class ReviewBench {
  /**
   * @param {object} tools - what the console shares: api() the signed-in Api, act(name, button, action),
   *   el(tag, text, className), when(iso), $(selector, root).
   */
  constructor(tools) {
    this.tools = tools;
    this.queue = [];
    this.case = null; // the case being reviewed: the answer of GET /v1/searches/{id}/review
    this.pending = []; // its candidates still waiting for this reviewer's decision
  }

  wire() {
    const { $ } = this.tools;
    $("#review-form").addEventListener("submit", (event) => this.decide(event));
    $("#review-refresh").addEventListener("click", () => this.enter());
  }

  /** Entering the screen: load the queue and open the oldest case. */
  async enter() {
    const { act, $ } = this.tools;
    $("#review-case").hidden = true;
    await act("review", null, async () => {
      const answer = await this.tools.api().call("GET", "/v1/review/queue");
      this.queue = answer.cases || [];
      this.showQueue(answer.trained !== false);
      if (this.queue.length) await this.open(this.queue[0].search_id);
    });
  }

  showQueue(trained) {
    const { el, $, when } = this.tools;
    const box = $("#review-queue");
    box.dataset.cases = String(this.queue.length);
    if (!trained) {
      box.replaceChildren(el("p", "Your review training is not recorded yet, or has expired. Ask an admin to record it; until then no case is shown.", "notice"));
      return;
    }
    if (!this.queue.length) {
      box.replaceChildren(el("p", "No cases wait for you. Cases you asked for yourself are never shown to you.", "notice"));
      return;
    }
    const list = el("ol", "", "queue");
    for (const item of this.queue) {
      const entry = el("li", `${item.case_reference} · ${when(item.searched_at)} · ${item.to_decide} to decide`);
      entry.dataset.searchId = item.search_id;
      list.append(entry);
    }
    const count = this.queue.length === 1 ? "1 case waits" : `${this.queue.length} cases wait`;
    box.replaceChildren(el("p", `${count} for you, oldest first.`), list);
  }

  async open(searchId) {
    this.case = await this.tools.api().call("GET", `/v1/searches/${encodeURIComponent(searchId)}/review`);
    this.pending = (this.case.candidates || []).filter((candidate) => !candidate.your_decision);
    this.showCandidate();
  }

  /** The probe beside the next candidate waiting for a decision. */
  showCandidate() {
    const { el, $, when } = this.tools;
    const view = $("#review-case");
    const candidate = this.pending[0];
    if (!candidate) {
      view.hidden = true;
      return;
    }
    const total = this.case.candidates.length;
    const number = total - this.pending.length + 1;
    $("#review-case-title").textContent = `Case ${this.case.case_reference}: candidate ${number} of ${total}`;
    $("#review-notice").textContent = this.case.notice;
    const captured = candidate.reference_captured_at;
    const stale = captured && Date.now() - new Date(captured).getTime() > STALE_REFERENCE_DAYS * 86400 * 1000;
    $("#review-pair").replaceChildren(
      this.figure("Photo searched with", this.case.probe_image, "review-probe"),
      this.figure("Candidate's enrolment photo", candidate.reference_image, "review-reference"),
    );
    $("#review-facts").replaceChildren(
      el("p", `The scores say: ${candidate.band} resemblance. Decide on the faces, not on this.`, "band"),
      el("p", captured ? `Enrolment photo taken ${when(captured)}${stale ? " (old photo: faces change)" : ""}.` : ""),
    );
    for (const input of document.querySelectorAll('#review-form input[name="decision"]')) input.checked = false;
    $("#review-rationale").value = "";
    view.dataset.candidateId = candidate.candidate_id;
    view.dataset.band = candidate.band;
    view.hidden = false;
  }

  figure(caption, dataUrl, id) {
    const { el } = this.tools;
    const figure = el("figure", "", "photo");
    figure.id = id;
    if (dataUrl) {
      const image = el("img");
      image.src = dataUrl; // a data: URL of a JPEG the server re-encoded; nothing is fetched
      image.alt = caption;
      figure.append(image);
    } else {
      figure.append(el("p", "No photo kept (the consent text did not cover it, or the case is closed).", "missing"));
    }
    figure.append(el("figcaption", caption));
    return figure;
  }

  async decide(event) {
    event.preventDefault();
    const { act, $ } = this.tools;
    const candidate = this.pending[0];
    const chosen = document.querySelector('#review-form input[name="decision"]:checked');
    const rationale = $("#review-rationale").value.trim();
    if (!candidate) return;
    await act("review", $("#review-form button[type=submit]"), async () => {
      if (!chosen) throw Object.assign(new Error("Choose same person, different people or cannot tell."), { code: "" });
      if (rationale.length < 10) throw Object.assign(new Error("Say why, in at least 10 characters."), { code: "" });
      await this.tools.api().call(
        "POST",
        `/v1/searches/${encodeURIComponent(this.case.search_id)}/candidates/${encodeURIComponent(candidate.candidate_id)}/decision`,
        { json: { decision: chosen.value, rationale } },
      );
      const done = $("#review-done");
      done.textContent = `Recorded: ${DECISIONS.find(([value]) => value === chosen.value)[1].toLowerCase()}.`;
      done.hidden = false;
      this.pending.shift();
      if (this.pending.length) this.showCandidate();
      else await this.enter(); // the next case
    });
  }
}

export const REVIEW_DECISIONS = DECISIONS;
