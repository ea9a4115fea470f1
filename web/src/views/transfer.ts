// Import and export (Administrator). An export without a passphrase holds no secret values; with
// one, secret values are sealed with it. The document is offered as a file download through a
// Blob and an object URL (no data: URL, nothing inline). An import reads a file the admin picks.
import { ApiError } from "../api/http";
import { exportDocument, importDocument, type ImportMode } from "../api/transfer";
import { el, field, messageBox, progress, replaceChildren, uniqueId } from "../dom";
import { pageHeader, reportError, type PageContext } from "./common";
import { errorText } from "./common";

export const MIN_PASSPHRASE = 12;
/** Added to the server's message when an import would make a secret setting plain. */
export const SECRET_STAYS_SECRET_HINT =
  "Nothing was imported. To make such a setting plain, an Administrator uses \"Declassify…\" next to it on the Clients page first (its values and history are deleted).";

const MODES: Array<[ImportMode, string, string]> = [
  ["addNewClients", "Add new clients", "Clients that already exist are left as they are."],
  ["replaceClients", "Replace clients", "Clients in the file replace those with the same name (definitions and values)."],
  ["valuesOnly", "Values only", "Only values of settings that already exist are updated."],
];

/** A file name for an export made at `now`. */
export function exportFileName(now: Date, sealed: boolean): string {
  const stamp = now.toISOString().replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
  return `fig-export-${stamp}${sealed ? "-sealed" : ""}.json`;
}

/** Offer `doc` as a JSON file download. The object URL is revoked right after the click. */
export function downloadJson(doc: unknown, fileName: string): void {
  const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: fileName, class: "visually-hidden" }, fileName);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function renderTransfer(root: HTMLElement, ctx: PageContext): void {
  // --- export
  const exportError = messageBox("error");
  const exportNotice = messageBox("notice");
  const exportStatus = el("div", {});
  const passphrase = field(
    "Passphrase to seal secret values (optional)",
    { name: "export-passphrase", type: "password", autocomplete: "new-password" },
    `Without one, the file holds no secret values. With one (at least ${MIN_PASSPHRASE} characters), secret values are sealed with it; keep it apart from the file.`,
  );
  const exportButton = el("button", { type: "submit", class: "primary" }, "Download export");
  const exportForm = el(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "export-title" },
    el("h2", { id: "export-title" }, "Export"),
    el("p", {}, "Every client's definitions and values as one JSON file."),
    exportError.node,
    exportNotice.node,
    passphrase.wrapper,
    el("div", { class: "actions" }, exportButton),
    exportStatus,
  );
  exportForm.addEventListener("submit", (event) => {
    event.preventDefault();
    exportError.clear();
    exportNotice.clear();
    const pass = passphrase.input.value;
    if (pass !== "" && [...pass].length < MIN_PASSPHRASE) {
      exportError.show(`The passphrase must be at least ${MIN_PASSPHRASE} characters long.`);
      passphrase.input.focus();
      return;
    }
    exportButton.disabled = true;
    exportForm.setAttribute("aria-busy", "true");
    replaceChildren(exportStatus, progress("Preparing the export…"));
    exportDocument(pass === "" ? undefined : pass)
      .then((doc) => {
        passphrase.input.value = "";
        downloadJson(doc, exportFileName(new Date(), pass !== ""));
        exportNotice.show(pass === "" ? "Export downloaded (no secret values)." : "Export downloaded, secret values sealed with your passphrase.");
      })
      .catch((err: unknown) => reportError(err, ctx, (t) => exportError.show(t)))
      .finally(() => {
        exportButton.disabled = false;
        exportForm.removeAttribute("aria-busy");
        replaceChildren(exportStatus);
      });
  });

  // --- import
  const importError = messageBox("error");
  const importNotice = messageBox("notice");
  const importStatus = el("div", {});
  const file = field("Export file", { name: "import-file", type: "file", accept: "application/json,.json" });
  const modeName = uniqueId("mode");
  const radios = MODES.map(([value, label, hint], i) => {
    const id = `${modeName}-${value}`;
    const input = el("input", { type: "radio", name: modeName, id, value, checked: i === 0, "aria-describedby": `${id}-hint` });
    return {
      input,
      node: el(
        "div",
        { class: "field field-check" },
        input,
        el("label", { for: id }, label),
        el("p", { class: "hint", id: `${id}-hint` }, hint),
      ),
    };
  });
  const importPass = field(
    "Passphrase (if the file has sealed secret values)",
    { name: "import-passphrase", type: "password", autocomplete: "off" },
  );
  const importButton = el("button", { type: "submit", class: "primary" }, "Import");
  const importForm = el(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "import-title" },
    el("h2", { id: "import-title" }, "Import"),
    el("p", {}, "Load clients and values from an export file. The server's configuration must allow file imports."),
    importError.node,
    importNotice.node,
    file.wrapper,
    el("fieldset", { class: "checkbox-group" }, el("legend", {}, "Mode"), ...radios.map((r) => r.node)),
    importPass.wrapper,
    el("div", { class: "actions" }, importButton),
    importStatus,
  );
  importForm.addEventListener("submit", (event) => {
    event.preventDefault();
    importError.clear();
    importNotice.clear();
    const picked = file.input.files?.[0];
    if (picked === undefined) {
      importError.show("Choose an export file first.");
      file.input.focus();
      return;
    }
    const mode = (radios.find((r) => r.input.checked)?.input.value ?? "addNewClients") as ImportMode;
    importButton.disabled = true;
    importForm.setAttribute("aria-busy", "true");
    replaceChildren(importStatus, progress("Importing…"));
    picked
      .text()
      .then((text) => {
        let doc: unknown;
        try {
          doc = JSON.parse(text) as unknown;
        } catch {
          throw new SyntaxError("not json");
        }
        return importDocument(mode, doc, importPass.input.value);
      })
      .then((r) => {
        importPass.input.value = "";
        importNotice.show(`Imported ${r.clients} ${r.clients === 1 ? "client" : "clients"} and ${r.values} ${r.values === 1 ? "value" : "values"}.`);
      })
      .catch((err: unknown) => {
        if (err instanceof SyntaxError) importError.show("That file is not a JSON export.");
        else if (err instanceof ApiError && err.status === 409 && err.code === "SECRET_STAYS_SECRET") {
          importError.show(`${errorText(err)} ${SECRET_STAYS_SECRET_HINT}`);
        } else reportError(err, ctx, (t) => importError.show(t));
      })
      .finally(() => {
        importButton.disabled = false;
        importForm.removeAttribute("aria-busy");
        replaceChildren(importStatus);
      });
  });

  replaceChildren(root, el("div", { class: "transfer-view" }, pageHeader("Import / export"), exportForm, importForm));
}
