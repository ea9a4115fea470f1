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
