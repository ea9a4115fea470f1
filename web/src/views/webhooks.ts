// Webhooks (Administrator): list with last delivery and dead letters, create (the signing
// secret is shown once), edit, delete, send a test, and look at dead letters.
import { WEBHOOK_TYPES, createWebhook, deleteWebhook, listWebhooks, testWebhook, rotateWebhookSecret, updateWebhook, webhookDeadLetters, type Webhook, type WebhookInput } from "../api/webhooks";
import {
  button,
  checkboxField,
  el,
  field,
  messageBox,
  oneTimeSecret,
  progress,
  replaceChildren,
  timeElement,
  uniqueId,
} from "../dom";
import { emptyState, pageHeader, reportError, type PageContext } from "./common";

/** Checks the form before sending: an https URL (the server's SSRF guard has the final word), a type. */
export function validateWebhook(input: WebhookInput): string | null {
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return "Enter the full URL of the receiver, like https://siem.example.com/fig.";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "The URL must start with https://.";
  if (input.types.length === 0) return "Choose at least one event type.";
  for (const [label, pattern] of [
    ["client pattern", input.clientPattern],
    ["setting pattern", input.settingPattern],
  ] as const) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern, "u");
    } catch {
      return `The ${label} is not a valid regular expression.`;
    }
  }
  return null;
}

function webhookForm(
  title: string,
  submitText: string,
  initial: Webhook | undefined,
  onSubmit: (input: WebhookInput, form: HTMLFormElement, submit: HTMLButtonElement) => void,
  onCancel?: () => void,
): HTMLFormElement {
  const titleId = uniqueId("webhook-title");
  const url = field(
    "Receiver URL",
    { name: "url", type: "url", autocomplete: "off", spellcheck: "false", value: initial?.url ?? "", placeholder: "https://" },
    "HTTPS. Private, loopback and metadata addresses are refused unless the server configuration allows the host.",
  );
  const boxes = WEBHOOK_TYPES.map((t) => ({ t, box: checkboxField(t, "types", initial?.types.includes(t) ?? false) }));
  const types = el(
    "fieldset",
    { class: "field checkbox-group" },
    el("legend", {}, "Event types"),
    ...boxes.map((b) => b.box.wrapper),
  );
  const clientPattern = field(
    "Client pattern (optional)",
    { name: "client-pattern", type: "text", autocomplete: "off", spellcheck: "false", value: initial?.clientPattern ?? "" },
    "Regular expression of the client names to send events for. Empty: all.",
  );
  const settingPattern = field(
    "Setting pattern (optional)",
    { name: "setting-pattern", type: "text", autocomplete: "off", spellcheck: "false", value: initial?.settingPattern ?? "" },
    "Regular expression of the setting names (value changes only). Empty: all.",
  );
  const submit = el("button", { type: "submit", class: "primary" }, submitText);
  const form = el(
    "form",
    { class: "card webhook-form", novalidate: true, "aria-labelledby": titleId },
    el(initial === undefined ? "h2" : "h3", { id: titleId }, title),
    url.wrapper,
    types,
    clientPattern.wrapper,
    settingPattern.wrapper,
    el("div", { class: "actions" }, submit, onCancel === undefined ? null : button("Cancel", onCancel)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input: WebhookInput = {
      url: url.input.value.trim(),
      types: boxes.filter((b) => b.box.input.checked).map((b) => b.t),
    };
    const cp = clientPattern.input.value.trim();
    const sp = settingPattern.input.value.trim();
    if (cp !== "") input.clientPattern = cp;
    if (sp !== "") input.settingPattern = sp;
    onSubmit(input, form, submit);
  });
  return form;
}

export function renderWebhooks(root: HTMLElement, ctx: PageContext): Promise<void> {
  const error = messageBox("error");
  const notice = messageBox("notice");
  const content = el("div", { class: "webhooks-content", "aria-live": "polite" });
  const secretSlot = el("div", { class: "one-time-slot" });
  const refresh = button("Refresh", () => void load());
  const fail = (err: unknown): void => reportError(err, ctx, (t) => error.show(t));

  const send = (
    action: () => Promise<void>,
    form: HTMLFormElement,
    submit: HTMLButtonElement,
  ): void => {
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    action()
      .catch(fail)
      .finally(() => {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      });
  };

  // A signing secret, shown once above the list; "Done" takes the explanation away with it.
  const showSecret = (title: string, secret: string): void => {
    replaceChildren(
      secretSlot,
      oneTimeSecret(title, "Signing secret", secret, () => replaceChildren(secretSlot)),
      el("p", { class: "muted" }, "The receiver checks each delivery's HMAC-SHA256 signature with this secret."),
    );
    secretSlot.querySelector<HTMLElement>("button")?.focus();
  };

  const createForm = webhookForm("New webhook", "Create webhook", undefined, (input, form, submit) => {
    error.clear();
    notice.clear();
    const problem = validateWebhook(input);
    if (problem !== null) {
      error.show(problem);
      return;
    }
    send(
      async () => {
        const created = await createWebhook(input);
        form.reset();
        showSecret("Signing secret of the new webhook", created.signingSecret);
        await load();
      },
      form,
      submit,
    );
  });

  const hookCard = (hook: Webhook): HTMLElement => {
    const panel = el("div", { class: "webhook-panel" });
    const result = el("p", { class: "test-result", role: "status" });
    const testButton = button("Send test", () => {
      error.clear();
      testButton.disabled = true;
      replaceChildren(result, progress("Sending a test event…"));
      testWebhook(hook.id)
        .then((r) => {
          result.textContent = r.delivered
            ? `Test delivered${r.status === undefined ? "" : ` (HTTP ${r.status})`}.`
            : `Test not delivered${r.status === undefined ? "" : ` (HTTP ${r.status})`}${r.error === undefined ? "" : `: ${r.error}`}.`;
          result.className = r.delivered ? "test-result ok" : "test-result failed";
        })
        .catch((err: unknown) => {
          result.textContent = "";
          fail(err);
        })
        .finally(() => (testButton.disabled = false));
    }, { "aria-label": `Send test to ${hook.url}` });
    const close = (): void => panel.replaceChildren();
    const edit = button("Edit", () => {
      replaceChildren(
        panel,
        webhookForm(`Edit webhook`, "Save", hook, (input, form, submit) => {
          error.clear();
          const problem = validateWebhook(input);
          if (problem !== null) {
            error.show(problem);
            return;
          }
          send(
            async () => {
              const saved = await updateWebhook(hook.id, input);
              if (saved.signingSecret === undefined) {
                notice.show("Webhook saved.");
              } else {
                // Another host is another receiver, with a secret of its own.
                notice.show("Webhook saved. It now points to another host, so it has a new signing secret.");
                showSecret("New signing secret of the moved webhook", saved.signingSecret);
              }
              await load();
            },
            form,
            submit,
          );
        }, close),
      );
      panel.querySelector("input")?.focus();
    }, { "aria-label": `Edit the webhook to ${hook.url}` });
    const dead = button(`Dead letters (${hook.deadLetters})`, () => {
      replaceChildren(panel, progress("Loading dead letters…"));
      webhookDeadLetters(hook.id)
        .then((letters) =>
          replaceChildren(
            panel,
            letters.length === 0
              ? el("p", { class: "muted" }, "No dead letters: every event was delivered or is still being retried.")
              : el(
                  "div",
                  { class: "table-wrap" },
                  el(
                    "table",
                    { class: "data" },
                    el("caption", {}, "Events that could not be delivered"),
                    el("thead", {}, el("tr", {}, ...["Time", "Type", "Event id", "Attempts", "Last error"].map((c) => el("th", { scope: "col" }, c)))),
                    el(
                      "tbody",
                      {},
                      ...letters.map((d) =>
                        el(
                          "tr",
                          {},
                          el("td", { "data-label": "Time" }, timeElement(d.time)),
                          el("td", { "data-label": "Type" }, d.type),
                          el("td", { "data-label": "Event id" }, el("code", {}, d.eventId)),
                          el("td", { "data-label": "Attempts" }, String(d.attempts)),
                          el("td", { "data-label": "Last error" }, d.lastError),
                        ),
                      ),
                    ),
                  ),
                ),
          ),
        )
        .catch((err: unknown) => {
          panel.replaceChildren();
          fail(err);
        });
    }, { "aria-label": `Dead letters (${hook.deadLetters}) of the webhook to ${hook.url}` });
    // Asks before an action that cannot be undone; the action runs once, and may be retried
    // after a failure.
    const confirm = (question: string, text: string, yesLabel: string, action: () => Promise<void>): void => {
      const yes = button(yesLabel, () => {
        yes.disabled = true;
        error.clear();
        action().catch((err: unknown) => {
          yes.disabled = false;
          fail(err);
        });
      }, { class: "danger" });
      replaceChildren(
        panel,
        el(
          "div",
          { class: "editor confirm", role: "group", "aria-label": question },
          el("p", {}, text),
          el("div", { class: "actions" }, yes, button("Cancel", close)),
        ),
      );
      yes.focus();
    };
    const rotate = button("Replace secret", () =>
      confirm(
        "Replace the signing secret?",
        `Replace the signing secret of the webhook to ${hook.url}? The current secret stops at once: deliveries fail the receiver's check until it has the new one.`,
        "Replace signing secret",
        async () => {
          const r = await rotateWebhookSecret(hook.id);
          close();
          notice.show("Signing secret replaced. Deliveries are signed with the new secret from now on.");
          showSecret("New signing secret", r.signingSecret);
          await load();
        },
      ), { "aria-label": `Replace the signing secret of the webhook to ${hook.url}`, class: "secondary" });
    const del = button("Delete", () =>
      confirm(
        "Delete this webhook?",
        `Delete the webhook to ${hook.url}? Undelivered events are dropped.`,
        "Delete webhook",
        async () => {
          await deleteWebhook(hook.id);
          notice.show("Webhook deleted.");
          await load();
        },
      ), { "aria-label": `Delete the webhook to ${hook.url}`, class: "secondary danger" });

    const last = hook.lastDelivery;
    return el(
      "section",
      { class: "card webhook", "data-webhook": hook.id, "aria-label": `Webhook to ${hook.url}` },
      el("h2", { class: "webhook-url" }, hook.url),
      el(
        "dl",
        { class: "facts" },
        el("dt", {}, "Events"),
        el("dd", {}, hook.types.join(", ")),
        el("dt", {}, "Clients"),
        el("dd", {}, hook.clientPattern ?? "all"),
        el("dt", {}, "Settings"),
        el("dd", {}, hook.settingPattern ?? "all"),
        el("dt", {}, "Created"),
        el("dd", {}, hook.createdAt ? timeElement(hook.createdAt) : "—"),
        el("dt", {}, "Last delivery"),
        el(
          "dd",
          {},
          last === undefined
            ? el("span", { class: "muted" }, "none yet")
            : el(
                "span",
                {},
                el("span", { class: last.ok ? "badge badge-set" : "badge badge-unset" }, last.ok ? "delivered" : "failed"),
                " ",
                timeElement(last.time),
                last.status === undefined ? "" : ` · HTTP ${last.status}`,
                last.error === undefined ? "" : ` · ${last.error}`,
              ),
        ),
        el("dt", {}, "Dead letters"),
        el("dd", {}, String(hook.deadLetters)),
      ),
      el("div", { class: "actions" }, testButton, edit, dead, rotate, del),
      result,
      panel,
    );
  };

  const load = async (): Promise<void> => {
    refresh.disabled = true;
    content.setAttribute("aria-busy", "true");
    replaceChildren(content, progress("Loading webhooks…"));
    try {
      const hooks = await listWebhooks();
      replaceChildren(
        content,
        hooks.length === 0
          ? emptyState("No webhooks yet.", "Add one below to send events (value changes, registrations, security events) to another system.")
          : el("div", { class: "webhook-list" }, ...hooks.map(hookCard)),
      );
    } catch (err: unknown) {
      replaceChildren(content);
      fail(err);
    } finally {
      refresh.disabled = false;
      content.removeAttribute("aria-busy");
    }
  };

  replaceChildren(
    root,
    el("div", { class: "webhooks-view" }, pageHeader("Webhooks", refresh), error.node, notice.node, secretSlot, content, createForm),
  );
  return load();
}
