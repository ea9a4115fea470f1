// Tiny DOM helpers. All text goes in through text nodes: nothing here ever parses HTML.

export type Child = Node | string | null | undefined | false;

export interface Attrs {
  [name: string]: string | boolean | undefined;
}

/** Create an element. String children become text nodes; attributes are set with setAttribute. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (/^on/i.test(name)) {
      throw new Error(`event handler attributes are not allowed: ${name}`);
    }
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replace everything inside `root` with `children`. */
export function replaceChildren(root: Element, ...children: Child[]): void {
  root.replaceChildren();
  append(root, ...children);
}

let idCounter = 0;
/** A document-unique id for label/input and aria-describedby pairs. */
export function uniqueId(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled input wrapped in a field container. */
export function field(
  label: string,
  input: Attrs & { name: string; type: string },
  hint?: string,
): { wrapper: HTMLDivElement; input: HTMLInputElement } {
  const id = uniqueId(input.name);
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  const inputEl = el("input", { ...input, id, "aria-describedby": hintId });
  const wrapper = el(
    "div",
    { class: "field" },
    el("label", { for: id }, label),
    inputEl,
    hint === undefined ? null : el("p", { class: "hint", id: hintId }, hint),
  );
  return { wrapper, input: inputEl };
}

/** An error/status message region. Messages are set as text only. */
export function messageBox(kind: "error" | "notice"): {
  node: HTMLDivElement;
  show: (text: string) => void;
  clear: () => void;
} {
  const node = el("div", {
    class: `message message-${kind}`,
    role: kind === "error" ? "alert" : "status",
    hidden: true,
  });
  return {
    node,
    show(text: string) {
      node.textContent = text;
      node.hidden = false;
    },
    clear() {
      node.textContent = "";
      node.hidden = true;
    },
  };
}

/** Move focus to a view's heading so screen-reader and keyboard users land on the new view. */
export function focusHeading(root: Element): void {
  const h = root.querySelector<HTMLElement>("h1, h2");
  if (h) {
    h.tabIndex = -1;
    h.focus();
  }
}

/** A button of type "button" (never submits by accident) with a click handler. */
export function button(
  text: string,
  onClick: () => void,
  attrs: Attrs = {},
): HTMLButtonElement {
  const b = el("button", { type: "button", class: "secondary", ...attrs }, text);
  b.addEventListener("click", onClick);
  return b;
}

/** A labelled select. `options` are [value, label] pairs. */
export function selectField(
  label: string,
  name: string,
  options: Array<[string, string]>,
  selected?: string,
  hint?: string,
): { wrapper: HTMLDivElement; select: HTMLSelectElement } {
  const id = uniqueId(name);
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  const select = el(
    "select",
    { id, name, "aria-describedby": hintId },
    ...options.map(([value, text]) =>
      el("option", { value, selected: value === selected }, text),
    ),
  );
  const wrapper = el(
    "div",
    { class: "field" },
    el("label", { for: id }, label),
    select,
    hint === undefined ? null : el("p", { class: "hint", id: hintId }, hint),
  );
  return { wrapper, select };
}

/** A labelled textarea. */
export function textareaField(
  label: string,
  attrs: Attrs & { name: string },
  value = "",
  hint?: string,
): { wrapper: HTMLDivElement; textarea: HTMLTextAreaElement } {
  const id = uniqueId(attrs.name);
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  const textarea = el("textarea", { rows: "4", ...attrs, id, "aria-describedby": hintId });
  textarea.value = value;
  const wrapper = el(
    "div",
    { class: "field" },
    el("label", { for: id }, label),
    textarea,
    hint === undefined ? null : el("p", { class: "hint", id: hintId }, hint),
  );
  return { wrapper, textarea };
}

/** A checkbox with its label after it. */
export function checkboxField(
  label: string,
  name: string,
  checked: boolean,
  hint?: string,
): { wrapper: HTMLDivElement; input: HTMLInputElement } {
  const id = uniqueId(name);
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  const input = el("input", { type: "checkbox", id, name, "aria-describedby": hintId });
  input.checked = checked;
  const wrapper = el(
    "div",
    { class: "field field-check" },
    input,
    el("label", { for: id }, label),
    hint === undefined ? null : el("p", { class: "hint", id: hintId }, hint),
  );
  return { wrapper, input };
}

/** A "working…" indicator for anything slow; screen readers hear the text. */
export function progress(text: string): HTMLParagraphElement {
  return el(
    "p",
    { class: "progress", role: "status" },
    el("span", { class: "spinner", "aria-hidden": "true" }),
    text,
  );
}

/** A `<time>` element showing a timestamp in local time (the ISO text stays in `datetime`). */
export function timeElement(iso: string): HTMLTimeElement {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  return el("time", { datetime: iso }, text);
}

/**
 * A one-time secret panel: the value once, a copy button and a clear warning (and, if given, what
 * to do with it). "Done" removes it from the page (the value is not kept anywhere else).
 */
export function oneTimeSecret(
  title: string,
  label: string,
  secret: string,
  onDone?: () => void,
  explanation?: string,
): HTMLElement {
  const status = el("span", { class: "copy-status", role: "status" });
  const copy = button("Copy", () => {
    const clip = typeof navigator === "undefined" ? undefined : navigator.clipboard;
    if (clip === undefined) {
      status.textContent = "Copying is not available here: select the text and copy it.";
      return;
    }
    clip.writeText(secret).then(
      () => (status.textContent = "Copied."),
      () => (status.textContent = "Could not copy: select the text and copy it."),
    );
  });
  const panel = el(
    "section",
    { class: "one-time card", "aria-label": title },
    el("h3", {}, title),
    explanation === undefined ? null : el("p", { class: "one-time-explanation" }, explanation),
    el(
      "p",
      { class: "message message-notice" },
      "Copy it now: you will not see it again. It is not stored anywhere you can read it back.",
    ),
    el("p", {}, el("code", { class: "secret-text", "aria-label": label }, secret)),
    el("div", { class: "actions" }, copy, status),
  );
  const done = button("Done, hide it", () => {
    panel.remove();
    onDone?.();
  });
  panel.querySelector(".actions")?.append(done);
  return panel;
}
