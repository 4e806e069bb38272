// The devslack page: a channel timeline, a message box, modals with their stack and the App
// Home, for one person at a time. Every act goes to /ui/*, which drives the bot as Slack does.
"use strict";

(() => {
  const { el, render, plain } = BlockKit;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const view = {
    user: params.get("as") || "",
    place: params.get("in") || "",
    version: -1,
    state: null,
    drafts: {},      // surface key -> {block_id: {action_id: raw}}
    labels: {},      // option value -> label, for chips of chosen options
    painted: {},     // region -> key of what is on screen
    threads: {},     // parent ts -> whether its thread is open
    poll: null,
  };

  // ---- talking to the stand-in -------------------------------------------------------------

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: view.user, ...body }),
    });
    const answer = await response.json().catch(() => ({ ok: false, error: response.statusText }));
    if (!answer.ok) toast(answer.error || "Something went wrong");
    return answer;
  }

  async function pollForever() {
    for (;;) {
      const controller = new AbortController();
      view.poll = controller;
      try {
        const query = new URLSearchParams({ user: view.user, channel: channelId(), since: view.version });
        const response = await fetch(`/ui/state?${query}`, { signal: controller.signal });
        const state = await response.json();
        if (state.version !== undefined) show(state);
      } catch (error) {
        if (error.name !== "AbortError") await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  function restartPoll() {
    view.version = -1;
    view.painted = {};
    if (view.poll) view.poll.abort();
  }

  // ---- where the person is -----------------------------------------------------------------

  function channelId() {
    if (!view.state) return view.place.startsWith("C") ? view.place : "";
    if (view.place === "messages") return view.state.dm;
    if (view.place === "home") return "";
    return view.place;
  }

  function go(place, user = view.user) {
    const switching = user !== view.user;
    view.user = user;
    view.place = place;
    const url = new URL(location.href);
    url.searchParams.set("as", user);
    url.searchParams.set("in", place);
    history.replaceState(null, "", url);
    if (switching) view.drafts = {};
    if (place === "home") post("/ui/home", {});
    restartPoll();
  }

  // ---- painting ---------------------------------------------------------------------------

  function show(state) {
    const first = view.state === null;
    view.state = state;
    view.version = state.version;
    if (!view.user) view.user = state.me.id;
    const mine = state.channels.filter((c) => c.is_member);
    const outside = view.place.startsWith("C") && !mine.some((c) => c.id === view.place);
    const appless = state.me.external && ["home", "messages"].includes(view.place);
    if (!view.place || outside || appless) {
      go(mine.length ? mine[0].id : state.me.external ? "none" : "home", state.me.id);
      return;
    }
    if (first && view.place === "home") post("/ui/home", {});
    paintOnce("people", JSON.stringify([state.me.id, state.people]), paintPeople);
    paintOnce("sidebar", JSON.stringify([view.place, state.channels, state.me, state.connected]), paintSidebar);
    paintOnce("main", JSON.stringify([view.place, state.messages, state.home && [state.home.id, state.home.hash]]), paintMain);
    const modal = state.modal;
    paintOnce("modal", modal ? JSON.stringify([modal.id, modal.hash, modal.errors, modal.client_error, modal.depth]) : "", paintModal);
  }

  function paintOnce(region, key, paint) {
    if (view.painted[region] === key) return;
    view.painted[region] = key;
    paint(view.state);
  }

  function initials(name) {
    return name.split(/\s+/).filter(Boolean).map((w) => w[0]).slice(0, 2).join("").toUpperCase();
  }

  function paintPeople(state) {
    $("people").replaceChildren(...state.people.map((person) => el("button", {
      type: "button",
      role: "tab",
      class: `person${person.id === state.me.id ? " current" : ""}`,
      "aria-selected": person.id === state.me.id ? "true" : "false",
      "data-user": person.id,
      onclick: () => { if (person.id !== view.user) go(view.place === "home" ? "home" : "", person.id); },
    }, el("span", { class: "avatar small" }, initials(person.real_name)),
    el("span", { class: "person-name" }, person.real_name),
    el("span", { class: "person-team" }, person.team_name),
    person.external ? el("span", { class: "badge ext" }, "external") : null)));
  }

  function paintSidebar(state) {
    const channels = state.channels.filter((c) => c.is_member).map((c) => el("a", {
      href: "#", class: `nav-item${view.place === c.id ? " current" : ""}`, "data-channel": c.id,
      onclick: (event) => { event.preventDefault(); go(c.id); },
    }, el("span", { class: "hash" }, "#"), c.name,
    c.is_ext_shared ? el("span", { class: "connect", title: "Shared with another organisation (Slack Connect)" }, "⇄") : null));
    const app = state.app_name;
    // The app is installed in our workspace only: people from another organisation meet it in
    // the shared channel (Slack Connect) but have no Home or Messages tab for it.
    const apps = state.me.external ? [] : [
      el("div", { class: "nav-title" }, "Apps"),
      el("a", { href: "#", class: `nav-item${view.place === "home" ? " current" : ""}`, "data-place": "home",
        onclick: (event) => { event.preventDefault(); go("home"); } }, el("span", { class: "hash" }, "⌂"), `${app} · Home`),
      el("a", { href: "#", class: `nav-item${view.place === "messages" ? " current" : ""}`, "data-place": "messages",
        onclick: (event) => { event.preventDefault(); go("messages"); } }, el("span", { class: "hash" }, "✉"), `${app} · Messages`),
    ];
    $("sidebar").replaceChildren(
      el("div", { class: "workspace" }, state.me.team_name),
      el("div", { class: "me" }, el("span", { class: "avatar" }, initials(state.me.real_name)),
        el("div", {}, el("div", { class: "me-name" }, state.me.real_name),
          el("div", { class: "me-team" }, state.me.team_name, state.me.external ? " · external" : ""))),
      el("div", { class: "nav-title" }, "Channels"), ...channels, ...apps,
      ...(state.connected ? [] : [el("div", { class: "warning" }, "No bot is connected to this stand-in.")]),
    );
  }

  function surfaceKey(surface) {
    return surface.view ? `view:${surface.view}` : `msg:${surface.channel}:${surface.ts}`;
  }

  function context(surface, extra = {}) {
    const key = surfaceKey(surface);
    view.drafts[key] = view.drafts[key] || {};
    const drafts = view.drafts[key];
    return {
      drafts,
      labels: view.labels,
      people: view.state.people,
      channels: view.state.channels,
      act: (kind, block, element, value) => post("/ui/act", {
        surface, kind, block_id: block.block_id, action_id: element.action_id, value, drafts,
      }),
      suggest: async (block, element, query) => {
        const answer = await post("/ui/suggest", { surface, block_id: block.block_id, action_id: element.action_id, query });
        return answer.ok ? answer.options : [];
      },
      confirm: askToConfirm,
      ...extra,
    };
  }

  function time(ts) {
    return new Date(parseFloat(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function paintMain(state) {
    const home = view.place === "home";
    const nowhere = view.place === "none";
    $("timeline").hidden = home;
    $("composer").hidden = home || nowhere;
    $("home").hidden = !home;
    if (nowhere) {
      $("pane-head").replaceChildren(el("h1", {}, "No shared channels"));
      $("timeline").replaceChildren(el("p", { class: "empty" },
        `${state.me.real_name} is in no channel shared with ${state.workspace}, so sees nothing of ${state.app_name}.`));
      return;
    }
    const place = state.channels.find((c) => c.id === view.place);
    $("pane-head").replaceChildren(home
      ? el("h1", {}, `${state.app_name}`, el("span", { class: "tab" }, "Home"))
      : view.place === "messages"
        ? el("h1", {}, `${state.app_name}`, el("span", { class: "tab" }, "Messages"))
        : el("h1", {}, `# ${place ? place.name : ""}`,
          place && place.is_ext_shared ? el("span", { class: "badge ext" }, "Slack Connect") : null));
    if (home) {
      $("home").replaceChildren(state.home
        ? render(state.home.blocks, context({ view: state.home.id }, { state: state.home.state }))
        : el("p", { class: "empty" }, `${state.app_name} has not published a Home tab for you yet.`));
      return;
    }
    const timeline = $("timeline");
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    // As Slack shows a channel: thread replies under their parent (opened by "N replies"),
    // a reply also sent to the channel at the top level as well.
    const replies = {};
    for (const m of state.messages) {
      if (m.thread_ts && m.thread_ts !== m.ts) (replies[m.thread_ts] = replies[m.thread_ts] || []).push(m);
    }
    const message = (m, inThread) => el("article", {
      class: `message${m.ephemeral ? " ephemeral" : ""}${m.broadcast && !inThread ? " broadcast" : ""}`, "data-ts": m.ts,
    },
    el("span", { class: `avatar${m.is_bot ? " bot" : ""}` }, initials(m.author)),
    el("div", { class: "message-body" },
      el("div", { class: "meta" }, el("b", {}, m.author),
        m.is_bot ? el("span", { class: "badge" }, "APP") : null,
        m.external ? el("span", { class: "badge ext" }, "external") : null,
        el("time", {}, time(m.ts)), m.edited ? el("span", { class: "edited" }, "(edited)") : null),
      m.broadcast && !inThread ? el("div", { class: "broadcast-note" }, "replied to a thread") : null,
      m.blocks.length
        ? render(m.blocks, context({ channel: state.channel, ts: m.ts }, { state: m.state }))
        : el("div", { class: "mrkdwn", html: BlockKit.mrkdwn(m.text, { people: state.people, channels: state.channels }) }),
      m.ephemeral ? el("div", { class: "ephemeral-note" }, "Only visible to you") : null));
    const thread = (ts, list) => el("details", {
      class: "thread", "data-thread": ts, open: view.threads[ts] ? "" : null,
      ontoggle: (event) => { view.threads[ts] = event.target.open; },
    },
    el("summary", {}, `${list.length} ${list.length === 1 ? "reply" : "replies"}`),
    ...list.map((m) => message(m, true)));
    const items = state.messages
      .filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.broadcast)
      .flatMap((m) => (replies[m.ts] && !m.thread_ts
        ? [message(m, false), thread(m.ts, replies[m.ts])]
        : [message(m, false)]));
    timeline.replaceChildren(...(items.length ? items : [el("p", { class: "empty" }, "No messages yet. Try /onboard.")]));
    if (atBottom || items.length) timeline.scrollTop = timeline.scrollHeight;
    const box = $("message-box");
    box.placeholder = view.place === "messages" ? `Message ${state.app_name}` : `Message #${place ? place.name : ""} — try /onboard`;
  }

  function paintModal(state) {
    const modal = state.modal;
    const layer = $("modal");
    if (!modal) {
      layer.hidden = true;
      layer.replaceChildren();
      for (const key of Object.keys(view.drafts)) {
        if (key.startsWith("view:") && (!state.home || key !== `view:${state.home.id}`)) delete view.drafts[key];
      }
      return;
    }
    const ctx = context({ view: modal.id }, { state: modal.state, errors: modal.errors });
    const submit = modal.submit ? el("button", { type: "submit", class: "btn primary" }, modal.submit) : null;
    const form = el("form", {
      class: "modal", role: "dialog", "aria-modal": "true", "aria-label": modal.title, "data-view-id": modal.id,
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        submit.classList.add("busy");
        await post("/ui/submit", { view: modal.id, drafts: ctx.drafts });
        submit.disabled = false;
        submit.classList.remove("busy");
      },
    },
    el("header", {},
      modal.depth > 1 ? el("span", { class: "depth", title: "Views in this modal" }, `${modal.depth}/3`) : null,
      el("h2", {}, modal.title),
      el("button", { type: "button", class: "x", "aria-label": "Close", onclick: () => post("/ui/close", { view: modal.id, everything: true }) }, "×")),
    el("div", { class: "modal-body" },
      modal.client_error ? el("div", { class: "client-error", role: "alert" }, modal.client_error) : null,
      render(modal.blocks, ctx)),
    el("footer", {},
      el("button", { type: "button", class: "btn", onclick: () => post("/ui/close", { view: modal.id }) },
        modal.close || (modal.depth > 1 ? "Back" : "Cancel")),
      submit));
    layer.replaceChildren(form);
    layer.hidden = false;
    const firstError = form.querySelector(".has-error input, .has-error textarea");
    if (firstError) firstError.focus();
  }

  // ---- dialogs and notices ----------------------------------------------------------------

  function askToConfirm(dialog) {
    return new Promise((resolve) => {
      const layer = $("confirm");
      const done = (answer) => { layer.hidden = true; layer.replaceChildren(); resolve(answer); };
      layer.replaceChildren(el("div", { class: "dialog", role: "alertdialog", "aria-label": plain(dialog.title) },
        el("h2", {}, plain(dialog.title)),
        el("div", { class: "mrkdwn", html: BlockKit.mrkdwn(dialog.text.text, {}, dialog.text.verbatim === true) }),
        el("footer", {},
          el("button", { type: "button", class: "btn", onclick: () => done(false) }, plain(dialog.deny) || "Cancel"),
          el("button", { type: "button", class: `btn ${dialog.style === "danger" ? "danger" : "primary"}`, onclick: () => done(true) },
            plain(dialog.confirm) || "OK"))));
      layer.hidden = false;
    });
  }

  let toastTimer = null;
  function toast(message) {
    const node = $("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  // ---- the message box ----------------------------------------------------------------------

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("message-box");
    const text = box.value.trim();
    if (!text) return;
    box.value = "";
    const answer = await post("/ui/send", { channel: channelId(), text });
    if (!answer.ok) box.value = text;
  });
  $("message-box").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  pollForever();
})();
