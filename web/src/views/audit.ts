// The audit trail: filters (time range, type, user, client), newest first, "load more" with
// the server's cursor. The default range is the last 24 hours. The server reads a bounded part
// of the trail per request, so a page may hold fewer events than asked for, even none, and still
// have a cursor: "Load more" stays offered for as long as there is one.
import { searchAudit, type AuditEvent, type AuditQuery } from "../api/audit";
import { button, el, field, messageBox, progress, replaceChildren, timeElement } from "../dom";
import { emptyState, formatValue, pageHeader, reportError, type PageContext } from "./common";

export const PAGE_SIZE = 100;

export const NO_EVENTS_TEXT = "No events in this range.";
export const NO_EVENTS_HINT = "Widen the time range or clear a filter.";
export const NOT_YET_TEXT = "No matching events in this part yet; load more to keep searching.";
export const NOT_YET_HINT = "The server searches the range a part at a time.";

/** The line under the results: how many events are shown, and whether there may be more. */
export function auditStatusText(shown: number, lastPage: number, more: boolean): string {
  if (!more) return `${shown} ${shown === 1 ? "event" : "events"} shown.`;
  if (shown === 0) return "0 events shown so far.";
  if (lastPage === 0) {
    return `${shown} ${shown === 1 ? "event" : "events"} shown. No more matching events in the last part searched; load more to keep searching.`;
  }
  return `${shown} ${shown === 1 ? "event" : "events"} shown (more available).`;
}

/** A Date as the value of an `<input type="datetime-local">` (local time, minutes). */
export function toLocalInput(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A datetime-local value as RFC 3339 UTC, or null if it is not a date. */
export function fromLocalInput(value: string): string | null {
  if (value.trim() === "") return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The last millisecond of the minute a datetime-local value names, as RFC 3339 UTC. */
export function endOfMinute(value: string): string | null {
  const start = fromLocalInput(value);
  return start === null ? null : new Date(Date.parse(start) + 59_999).toISOString();
}

function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}: ${formatValue(v)}`)
    .join("; ");
}

function eventRow(e: AuditEvent): HTMLTableRowElement {
  const actor = e.actor.name === undefined ? e.actor.kind : `${e.actor.kind} ${e.actor.name}`;
  return el(
    "tr",
    { class: e.severity === "warning" ? "audit-event warning" : "audit-event" },
    el("td", { "data-label": "Time" }, timeElement(e.time)),
    el("td", { "data-label": "Type" }, el("span", { class: "event-type" }, e.type)),
    el(
      "td",
      { "data-label": "Result" },
      el(
        "span",
        { class: e.success ? "badge badge-set" : "badge badge-unset" },
        e.success ? "success" : "failure",
      ),
      e.severity === "warning" ? el("span", { class: "badge badge-warning" }, "warning") : null,
    ),
    el("td", { "data-label": "Actor" }, actor),
    el("td", { "data-label": "Source" }, e.source.ip ?? ""),
    el("td", { "data-label": "Details" }, detailsText(e.details)),
  );
}

export function renderAudit(root: HTMLElement, ctx: PageContext, now: Date = new Date()): Promise<void> {
  const error = messageBox("error");
  const from = field("From", {
    name: "from",
    type: "datetime-local",
    value: toLocalInput(new Date(now.getTime() - 24 * 3600 * 1000)),
  });
  const to = field("To", { name: "to", type: "datetime-local" }, "Leave empty for \"now\".");
  const type = field("Event type", { name: "type", type: "text", autocomplete: "off", spellcheck: "false" }, "For example LoginFailed or SettingValueChanged.");
  const user = field("User", { name: "user", type: "text", autocomplete: "off", spellcheck: "false" });
  const client = field("Client", { name: "client", type: "text", autocomplete: "off", spellcheck: "false" });
  const search = el("button", { type: "submit", class: "primary" }, "Search");
  const form = el(
    "form",
    { class: "filters audit-filters", role: "search", "aria-label": "Filter the audit trail", novalidate: true },
    from.wrapper,
    to.wrapper,
    type.wrapper,
    user.wrapper,
    client.wrapper,
    el("div", { class: "actions" }, search),
  );
  const tbody = el("tbody", {});
  const results = el("div", { class: "audit-results", "aria-live": "polite" });
  const status = el("div", { class: "audit-status" });
  const more = button("Load more", () => void fetchPage(true));
  more.hidden = true;

  let query: AuditQuery | null = null;
  let cursor: string | undefined;

  const table = (): HTMLElement =>
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "data audit" },
        el("caption", { class: "visually-hidden" }, "Audit events"),
        el(
          "thead",
          {},
          el("tr", {}, ...["Time", "Type", "Result", "Actor", "Source", "Details"].map((c) => el("th", { scope: "col" }, c))),
        ),
        tbody,
      ),
    );

  const fetchPage = async (append: boolean): Promise<void> => {
    if (query === null) return;
    error.clear();
    search.disabled = true;
    more.disabled = true;
    results.setAttribute("aria-busy", "true");
    replaceChildren(status, progress(append ? "Loading more events…" : "Searching the audit trail…"));
    try {
      const page = await searchAudit(append && cursor !== undefined ? { ...query, cursor } : query);
      if (!append) tbody.replaceChildren();
      for (const e of page.events) tbody.append(eventRow(e));
      cursor = page.nextCursor;
      const shown = tbody.childElementCount;
      // The table once there is an event (also when the first ones come with "Load more");
      // until then, an empty state that says whether searching on may still find some.
      if (shown > 0) {
        if (!results.contains(tbody)) replaceChildren(results, table());
      } else {
        replaceChildren(
          results,
          cursor === undefined ? emptyState(NO_EVENTS_TEXT, NO_EVENTS_HINT) : emptyState(NOT_YET_TEXT, NOT_YET_HINT),
        );
      }
      more.hidden = cursor === undefined;
      replaceChildren(status, el("p", { class: "muted" }, auditStatusText(shown, page.events.length, cursor !== undefined)));
    } catch (err: unknown) {
      replaceChildren(status);
      reportError(err, ctx, (t) => error.show(t));
    } finally {
      search.disabled = false;
      more.disabled = false;
      results.removeAttribute("aria-busy");
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = fromLocalInput(from.input.value);
    const t = to.input.value.trim() === "" ? new Date().toISOString() : endOfMinute(to.input.value);
    if (f === null || t === null) {
      error.show("Enter the start of the time range (and a valid end, or none for now).");
      return;
    }
    if (f > t) {
      error.show("The start of the range must be before its end.");
      return;
    }
    query = {
      from: f,
      to: t,
      type: type.input.value.trim(),
      user: user.input.value.trim(),
      client: client.input.value.trim(),
      limit: PAGE_SIZE,
    };
    cursor = undefined;
    void fetchPage(false);
  });

  replaceChildren(
    root,
    el("div", { class: "audit-view" }, pageHeader("Audit"), form, error.node, results, status, el("div", { class: "actions" }, more)),
  );
  query = {
    from: new Date(now.getTime() - 24 * 3600 * 1000).toISOString(),
    to: now.toISOString(),
    limit: PAGE_SIZE,
  };
  return fetchPage(false);
}
