// What every signed-in page shares: who is signed in, and how a failed call is shown.
import { type Me } from "../api/auth";
import { ApiError, isSessionEnded } from "../api/http";
import { el } from "../dom";

/** A 429 answer, in words: how long to wait when the server said. */
export function tooManyAttemptsText(retryAfter: number | undefined): string {
  if (retryAfter === undefined) return "Too many attempts. Wait a moment, then try again.";
  return `Too many attempts, try again in ${retryAfter} ${retryAfter === 1 ? "second" : "seconds"}.`;
}

/** What a failed call tells the user: the server's message and request id, never internals. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 429) return tooManyAttemptsText(err.retryAfter);
    return err.requestId === undefined
      ? err.message
      : `${err.message} (request ${err.requestId})`;
  }
  return "Something went wrong. Please try again.";
}

export interface PageContext {
  me: Me;
  /** Called when the server no longer accepts the access token. */
  onSessionExpired: () => void;
}

export const isAdmin = (ctx: PageContext): boolean => ctx.me.role === "Administrator";
/** Administrators and Users may edit values (the server narrows Users to their filter). */
export const canEditValues = (ctx: PageContext): boolean => ctx.me.role !== "ReadOnly";

/**
 * Show a failed call: nothing when the session already ended (the login page is on screen),
 * hand a 401 back as an expired session, otherwise the server's message (as text).
 */
export function reportError(
  err: unknown,
  ctx: Pick<PageContext, "onSessionExpired">,
  show: (text: string) => void,
): void {
  if (isSessionEnded(err)) return;
  if (err instanceof ApiError && err.status === 401) {
    ctx.onSessionExpired();
    return;
  }
  show(errorText(err));
}

/** A page's title bar: one h1 and its actions. */
export function pageHeader(title: string, ...actions: Node[]): HTMLElement {
  return el(
    "div",
    { class: "toolbar" },
    el("h1", {}, title),
    actions.length === 0 ? null : el("div", { class: "toolbar-actions" }, ...actions),
  );
}

/** An empty state: what is missing and what would fill it. */
export function emptyState(title: string, hint: string): HTMLElement {
  return el("div", { class: "empty card" }, el("p", {}, title), el("p", { class: "muted" }, hint));
}

/** Text for a value: strings as they are, anything else as JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Lines of a textarea as a list, blank lines dropped. */
export function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Comma-separated text as a list, blanks dropped. */
export function commaList(text: string): string[] {
  return text
    .split(",")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}
