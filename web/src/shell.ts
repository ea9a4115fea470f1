// The signed-in console: who is signed in, navigation between pages (hash routes, so the
// browser's back button and bookmarks work), and sign-out. Pages an Administrator alone may use
// are not offered to other roles (the server refuses them anyway).
import { getMe, type Me } from "./api/auth";
import { button, el, focusHeading, messageBox, progress, replaceChildren } from "./dom";
import { renderAudit } from "./views/audit";
import { renderClients } from "./views/clients";
import { reportError, type PageContext } from "./views/common";
import { renderConfiguration } from "./views/configuration";
import { renderTransfer } from "./views/transfer";
import { renderUsers } from "./views/users";
import { renderWebhooks } from "./views/webhooks";

export interface ShellOptions {
  onSignOut: () => void;
  onSessionExpired: () => void;
}

export type PageId = "clients" | "audit" | "users" | "webhooks" | "configuration" | "transfer";

interface PageDef {
  id: PageId;
  title: string;
  adminOnly: boolean;
  render: (root: HTMLElement, ctx: PageContext) => Promise<void> | void;
}

export const PAGES: readonly PageDef[] = [
  {
    id: "clients",
    title: "Clients",
    adminOnly: false,
    render: (root, ctx) => renderClients(root, { ctx, onSessionExpired: ctx.onSessionExpired }),
  },
  { id: "audit", title: "Audit", adminOnly: false, render: renderAudit },
  { id: "users", title: "Users", adminOnly: true, render: renderUsers },
  { id: "webhooks", title: "Webhooks", adminOnly: true, render: renderWebhooks },
  { id: "configuration", title: "Configuration", adminOnly: false, render: renderConfiguration },
  { id: "transfer", title: "Import / export", adminOnly: true, render: renderTransfer },
];

/** The page named by a location hash (`#/audit`), if it is one. */
export function pageFromHash(hash: string): PageId | null {
  const id = hash.replace(/^#\/?/, "");
  return PAGES.some((p) => p.id === id) ? (id as PageId) : null;
}

/** Stops the current console's listeners (set while a console is on screen). */
let stopCurrent: (() => void) | null = null;

/** Leave the console: its listeners stop. Safe to call when none is on screen. */
export function leaveShell(): void {
  stopCurrent?.();
  stopCurrent = null;
}

/**
 * Render the console. Asks `GET /api/auth/me` for the role first; resolves once the first
 * page has loaded.
 */
export async function renderShell(root: HTMLElement, opts: ShellOptions): Promise<void> {
  leaveShell();
  replaceChildren(root, progress("Loading your account…"));
  let me: Me;
  try {
    me = await getMe();
  } catch (err: unknown) {
    const error = messageBox("error");
    replaceChildren(
      root,
      el("h1", {}, "Fig admin"),
      error.node,
      el("div", { class: "actions" }, button("Sign out", () => opts.onSignOut())),
    );
    reportError(err, opts, (t) => error.show(t));
    return;
  }

  const ctx: PageContext = { me, onSessionExpired: opts.onSessionExpired };
  const pages = PAGES.filter((p) => !p.adminOnly || me.role === "Administrator");
  const links = new Map<PageId, HTMLAnchorElement>();
  const page = el("div", { class: "page" });
  let current: PageId | null = null;

  const show = (id: PageId, focus: boolean): Promise<void> => {
    const def = pages.find((p) => p.id === id) ?? pages[0];
    if (def === undefined) return Promise.resolve();
    current = def.id;
    for (const [pid, a] of links) {
      if (pid === def.id) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    document.title = `${def.title} · Fig admin`;
    const done = Promise.resolve(def.render(page, ctx));
    if (focus) focusHeading(page);
    return done;
  };

  const nav = el(
    "nav",
    { class: "app-nav", "aria-label": "Main" },
    el(
      "ul",
      {},
      ...pages.map((p) => {
        const a = el("a", { href: `#/${p.id}` }, p.title);
        links.set(p.id, a);
        a.addEventListener("click", (event) => {
          event.preventDefault();
          if (location.hash !== `#/${p.id}`) history.pushState(null, "", `#/${p.id}`);
          void show(p.id, true);
        });
        return el("li", {}, a);
      }),
    ),
    el(
      "div",
      { class: "who" },
      el("span", { class: "who-name" }, me.username),
      " ",
      el("span", { class: "badge badge-role" }, me.role),
      " ",
      button("Sign out", () => opts.onSignOut(), { class: "secondary sign-out" }),
    ),
  );

  const onPop = (): void => {
    const id = pageFromHash(location.hash);
    if (id !== null && id !== current) void show(id, true);
  };
  window.addEventListener("popstate", onPop);
  stopCurrent = () => window.removeEventListener("popstate", onPop);

  replaceChildren(root, nav, page);
  return show(pageFromHash(location.hash) ?? "clients", false);
}
