// Block Kit rendered as Slack's client shows it, for the devslack page.
// BlockKit.render(blocks, ctx) returns a DOM node. ctx carries what the surface needs:
//   state     server-side state.values of the surface ({block_id: {action_id: value}})
//   drafts    what the person typed here, kept by the page ({block_id: {action_id: raw}})
//   errors    inline errors by block_id
//   people, channels   for user/conversation selects and mentions
//   act(kind, block, element, value)   a click or a choice Slack would send as block_actions
//   suggest(block, element, query)     options from the bot (block_suggestion), a Promise
//   confirm(dialog)                    a Promise<boolean> for confirm dialogs
"use strict";

const BlockKit = (() => {
  const STATE_FIELD = {
    plain_text_input: "value", number_input: "value", email_text_input: "value",
    url_text_input: "value", datepicker: "selected_date", timepicker: "selected_time",
    checkboxes: "selected_options", radio_buttons: "selected_option",
    static_select: "selected_option", external_select: "selected_option",
    multi_static_select: "selected_options", multi_external_select: "selected_options",
    users_select: "selected_user", multi_users_select: "selected_users",
    conversations_select: "selected_conversation",
    multi_conversations_select: "selected_conversations",
    channels_select: "selected_channel", multi_channels_select: "selected_channels",
  };
  let uid = 0;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "html") node.innerHTML = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Emoji shortcodes as Slack's client shows them (the ones bots commonly send).
  const EMOJI = {
    wave: "👋", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️",
    no_entry: "⛔", no_entry_sign: "🚫", octagonal_sign: "🛑", information_source: "ℹ️",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", lock: "🔒", unlock: "🔓", key: "🔑",
    mag: "🔍", page_facing_up: "📄", memo: "📝", telephone_receiver: "📞", phone: "☎️",
    tada: "🎉", eyes: "👀", bar_chart: "📊", incoming_envelope: "📨", email: "📧",
    repeat: "🔁", electric_plug: "🔌", office: "🏢", red_circle: "🔴",
    large_green_circle: "🟢", thunder_cloud_and_rain: "⛈️", bell: "🔔", link: "🔗",
    calendar: "📅", clock9: "🕘", "+1": "👍", thumbsup: "👍", sparkles: "✨", rocket: "🚀",
  };

  function emoji(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, (code, name) => EMOJI[name] || code);
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function decodeEntities(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  // Slack mrkdwn: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, <links|labels>,
  // <@U…> mentions and <#C…|name> channels. Everything is escaped before formatting. Unless the
  // text object is `verbatim`, a bare URL becomes a link too, as Slack's automatic parsing does.
  function mrkdwn(source, ctx, verbatim = false) {
    const parts = [];
    let last = 0;
    const pattern = /<([^<>\n]+)>/g;
    let match;
    while ((match = pattern.exec(source)) !== null) {
      parts.push(formatText(decodeEntities(source.slice(last, match.index)), !verbatim));
      parts.push(special(match[1], ctx));
      last = pattern.lastIndex;
    }
    parts.push(formatText(decodeEntities(source.slice(last)), !verbatim));
    return parts.join("");
  }

  function special(inner, ctx) {
    const [target, label] = inner.split("|", 2);
    if (target.startsWith("@")) {
      const person = (ctx.people || []).find((p) => p.id === target.slice(1));
      return `<span class="mention">@${escapeHtml(label || (person ? person.real_name : target.slice(1)))}</span>`;
    }
    if (target.startsWith("#")) {
      const channel = (ctx.channels || []).find((c) => c.id === target.slice(1));
      return `<span class="mention">#${escapeHtml(label || (channel ? channel.name : target.slice(1)))}</span>`;
    }
    if (target.startsWith("!")) {
      return `<span class="mention">@${escapeHtml(label || target.slice(1).split("^")[0])}</span>`;
    }
    const href = /^(https?:|mailto:|tel:)/.test(target) ? target : "#";
    return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener">${escapeHtml(label || target)}</a>`;
  }

  function formatText(text, autolink = false) {
    const blocks = text.split(/```/);
    return blocks.map((chunk, i) => {
      if (i % 2 === 1) return `<pre>${escapeHtml(chunk.replace(/^\n/, ""))}</pre>`;
      return chunk.split("\n").map((line) => {
        let html = emoji(escapeHtml(line));
        if (autolink) {
          html = html.replace(/(^|[\s(])(https?:\/\/[^\s<]+)/g,
            '$1<a href="$2" target="_blank" rel="noopener">$2</a>');
        }
        const quoted = html.startsWith("&gt; ") || html === "&gt;";
        if (quoted) html = html.replace(/^&gt; ?/, "");
        html = html
          .replace(/`([^`]+)`/g, "<code>$1</code>")
          .replace(/(^|[\s(>])\*([^*]+)\*(?=$|[\s).,!?:;<])/g, "$1<b>$2</b>")
          .replace(/(^|[\s(>])_([^_]+)_(?=$|[\s).,!?:;<])/g, "$1<i>$2</i>")
          .replace(/(^|[\s(>])~([^~]+)~(?=$|[\s).,!?:;<])/g, "$1<s>$2</s>");
        return quoted ? `<blockquote>${html}</blockquote>` : html;
      }).join("<br>").replace(/<\/blockquote><br><blockquote>/g, "<br>");
    }).join("");
  }

  function textNode(obj, ctx, tag = "span") {
    if (!obj) return el(tag);
    if (obj.type === "mrkdwn") return el(tag, { class: "mrkdwn", html: mrkdwn(obj.text, ctx, obj.verbatim === true) });
    return el(tag, {}, plain(obj));
  }

  function plain(obj) {
    if (!obj) return "";
    return obj.type === "plain_text" && obj.emoji !== false ? emoji(obj.text) : obj.text;
  }

  // ---- values: draft, else server state, else initial --------------------------------

  function currentValue(block, element, ctx) {
    const drafts = ctx.drafts[block.block_id] || {};
    if (element.action_id in drafts) return drafts[element.action_id];
    const entry = ((ctx.state || {})[block.block_id] || {})[element.action_id];
    const field = STATE_FIELD[element.type];
    const raw = entry ? entry[field] : initialOf(element, field);
    return toRaw(raw);
  }

  function initialOf(element, field) {
    const name = field.replace("selected_", "initial_").replace(/^value$/, "initial_value");
    return element[name];
  }

  function toRaw(value) {
    if (Array.isArray(value)) return value.map((v) => (typeof v === "object" && v ? v.value : v));
    if (value && typeof value === "object") return value.value;
    return value === undefined ? null : value;
  }

  function optionsOf(element) {
    if (element.option_groups) return element.option_groups.flatMap((g) => g.options || []);
    return element.options || [];
  }

  // What changed: keep it as a draft; outside input blocks (or with dispatch_action) Slack sends
  // block_actions at once.
  function changed(block, element, value, ctx) {
    ctx.drafts[block.block_id] = ctx.drafts[block.block_id] || {};
    ctx.drafts[block.block_id][element.action_id] = value;
    if (block.type !== "input" || block.dispatch_action) ctx.act("choose", block, element, value);
  }

  // ---- elements -------------------------------------------------------------------------

  // A button with a `url` is a link Slack opens in a new browser tab; Slack sends block_actions
  // for it as well (the app must ack), so both happen on one click.
  function button(block, element, ctx) {
    if (element.url) return linkButton(block, element, ctx);
    return el("button", {
      type: "button",
      class: `btn ${element.style || ""}`.trim(),
      "data-action-id": element.action_id,
      onclick: async () => {
        if (element.confirm && !(await ctx.confirm(element.confirm))) return;
        ctx.act("click", block, element);
      },
    }, plain(element.text));
  }

  function linkButton(block, element, ctx) {
    return el("a", {
      class: `btn ${element.style || ""}`.trim(),
      href: element.url,
      target: "_blank",
      rel: "noopener noreferrer",
      "data-action-id": element.action_id,
      onclick: async (event) => {
        if (element.confirm) {
          event.preventDefault();
          if (!(await ctx.confirm(element.confirm))) return;
          window.open(element.url, "_blank", "noopener,noreferrer");
        }
        ctx.act("click", block, element);
      },
    }, plain(element.text), el("span", { class: "external-link", "aria-hidden": "true" }, " ↗"));
  }

  function choiceList(block, element, ctx, multiple) {
    const name = `choice-${++uid}`;
    const chosen = currentValue(block, element, ctx);
    const selected = new Set(multiple ? chosen || [] : chosen ? [chosen] : []);
    const list = el("div", { class: "choices", role: multiple ? "group" : "radiogroup", "data-action-id": element.action_id });
    for (const option of element.options || []) {
      const id = `${name}-${option.value}`;
      const input = el("input", {
        type: multiple ? "checkbox" : "radio", id, name, value: option.value,
        checked: selected.has(option.value),
        onchange: () => {
          const inputs = [...list.querySelectorAll("input")];
          const values = inputs.filter((i) => i.checked).map((i) => i.value);
          changed(block, element, multiple ? values : values[0] || null, ctx);
        },
      });
      list.append(el("div", { class: "choice" }, input,
        el("label", { for: id }, textNode(option.text, ctx),
          option.description ? textNode(option.description, ctx, "small") : null)));
    }
    return list;
  }

  function textInput(block, element, ctx) {
    const value = currentValue(block, element, ctx) ?? "";
    const types = { number_input: "number", email_text_input: "email", url_text_input: "url",
      datepicker: "date", timepicker: "time" };
    const attrs = {
      id: `input-${++uid}`,
      class: "text-input",
      placeholder: plain(element.placeholder) || null,
      "data-action-id": element.action_id,
      maxlength: element.max_length || null,
      oninput: (event) => { ctx.drafts[block.block_id] = ctx.drafts[block.block_id] || {};
        ctx.drafts[block.block_id][element.action_id] = event.target.value; },
      onchange: (event) => { if (block.type !== "input" || block.dispatch_action) changed(block, element, event.target.value, ctx); },
    };
    if (element.multiline) return el("textarea", { ...attrs, rows: 4 }, value);
    return el("input", { ...attrs, type: types[element.type] || "text", value });
  }

  function overflow(block, element, ctx) {
    const menu = el("div", { class: "menu", hidden: true, role: "menu" });
    for (const option of element.options || []) {
      menu.append(el("button", { type: "button", role: "menuitem", onclick: () => {
        menu.hidden = true;
        ctx.act("choose", block, element, option.value);
      } }, plain(option.text)));
    }
    return el("div", { class: "overflow" },
      el("button", { type: "button", class: "btn icon", "aria-label": "More actions",
        "data-action-id": element.action_id, onclick: () => { menu.hidden = !menu.hidden; } }, "⋯"),
      menu);
  }

  // A select with type-ahead: static options filtered locally, external options asked from
  // the bot (after min_query_length characters), people and conversations from the workspace.
  function combo(block, element, ctx) {
    const multi = element.type.startsWith("multi_");
    const external = element.type.endsWith("external_select");
    const labels = ctx.labels;
    let candidates = [];
    if (element.type.includes("users_")) {
      candidates = (ctx.people || []).map((p) => ({ value: p.id, label: p.real_name, hint: p.team_name }));
    } else if (element.type.includes("conversations_") || element.type.includes("channels_")) {
      candidates = (ctx.channels || []).map((c) => ({ value: c.id, label: `#${c.name}` }));
    } else if (!external) {
      const groups = element.option_groups || [{ options: element.options || [] }];
      for (const group of groups) {
        for (const option of group.options || []) {
          candidates.push({ value: option.value, label: plain(option.text), group: plain(group.label) });
        }
      }
    }
    for (const c of candidates) labels[c.value] = c.label;
    for (const option of optionsOf(element)) labels[option.value] = plain(option.text);
    for (const key of ["initial_option"]) if (element[key]) labels[element[key].value] = plain(element[key].text);
    for (const option of element.initial_options || []) labels[option.value] = plain(option.text);

    let value = currentValue(block, element, ctx);
    let selected = multi ? [...(value || [])] : value ? [value] : [];
    const root = el("div", { class: `combo${multi ? " multi" : ""}`, "data-action-id": element.action_id });
    const chips = el("div", { class: "chips" });
    const inputId = `combo-${++uid}`;
    const search = el("input", {
      id: inputId, type: "text", class: "combo-input", autocomplete: "off", role: "combobox",
      "aria-expanded": "false",
      placeholder: plain(element.placeholder) || (external ? "Type to search…" : "Select an option"),
    });
    const menu = el("ul", { class: "combo-menu", role: "listbox", hidden: true });
    root.append(el("div", { class: "combo-box" }, chips, search), menu);
    let active = -1;
    let shown = [];
    let timer = null;

    function paintSelection() {
      chips.replaceChildren();
      if (multi) {
        for (const v of selected) {
          chips.append(el("span", { class: "chip" }, labels[v] || v,
            el("button", { type: "button", "aria-label": `Remove ${labels[v] || v}`,
              onclick: () => { selected = selected.filter((s) => s !== v); commit(); } }, "×")));
        }
        search.value = "";
      } else {
        search.value = selected.length ? labels[selected[0]] || selected[0] : "";
      }
    }

    function commit() {
      paintSelection();
      changed(block, element, multi ? [...selected] : selected[0] || null, ctx);
    }

    function paintMenu(items, note) {
      shown = items;
      active = items.length ? 0 : -1;
      menu.replaceChildren();
      let group = null;
      items.forEach((item, i) => {
        if (item.group && item.group !== group) {
          group = item.group;
          menu.append(el("li", { class: "combo-group", role: "presentation" }, group));
        }
        menu.append(el("li", {
          role: "option", class: i === active ? "active" : "", "aria-selected": selected.includes(item.value) ? "true" : "false",
          onmousedown: (event) => { event.preventDefault(); pick(item); },
        }, item.label, item.hint ? el("small", {}, ` ${item.hint}`) : null));
      });
      if (note) menu.append(el("li", { class: "combo-note", role: "presentation" }, note));
      menu.hidden = false;
      floatBelow(menu, root.querySelector(".combo-box"));
      search.setAttribute("aria-expanded", "true");
    }

    function pick(item) {
      labels[item.value] = item.label;
      if (multi) {
        if (!selected.includes(item.value)) {
          if (element.max_selected_items && selected.length >= element.max_selected_items) return;
          selected.push(item.value);
        }
      } else {
        selected = [item.value];
        menu.hidden = true;
        search.setAttribute("aria-expanded", "false");
      }
      commit();
      if (multi) search.focus();
    }

    async function refresh() {
      const query = search.value.trim();
      const typed = multi || !selected.length || query !== (labels[selected[0]] || "") ? query : "";
      if (external) {
        const least = element.min_query_length ?? 3;
        if (typed.length < least) return paintMenu([], `Type at least ${least} characters`);
        paintMenu([], "Searching…");
        const options = await ctx.suggest(block, element, typed);
        if (search.value.trim() !== query) return;
        return paintMenu(options.map((o) => ({ value: o.value, label: plain(o.text) })),
          options.length ? null : "No matches");
      }
      const lower = typed.toLowerCase();
      const matches = candidates.filter((c) => c.label.toLowerCase().includes(lower));
      paintMenu(matches, matches.length ? null : "No matches");
    }

    search.addEventListener("focus", () => { search.select(); refresh(); });
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, external ? 250 : 0); });
    search.addEventListener("blur", () => {
      setTimeout(() => { menu.hidden = true; search.setAttribute("aria-expanded", "false"); paintSelection(); }, 120);
    });
    search.addEventListener("keydown", (event) => {
      const items = [...menu.querySelectorAll('[role="option"]')];
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = Math.max(0, Math.min(items.length - 1, active + (event.key === "ArrowDown" ? 1 : -1)));
        items.forEach((item, i) => item.classList.toggle("active", i === active));
      } else if (event.key === "Enter") {
        event.preventDefault();
        if (active >= 0 && shown[active]) pick(shown[active]);
      } else if (event.key === "Escape") {
        menu.hidden = true;
      } else if (event.key === "Backspace" && multi && !search.value && selected.length) {
        selected.pop();
        commit();
      }
    });
    paintSelection();
    return root;
  }

  // Menus float over everything (a modal's scrolling body included), below their box or above
  // it when the window has more room there, as Slack's do, and follow their box on scrolling.
  const MENU_HEIGHT = 260;

  function floatBelow(menu, box) {
    const rect = box.getBoundingClientRect();
    const below = window.innerHeight - rect.bottom - 8;
    const above = rect.top - 8;
    const downwards = below >= Math.min(MENU_HEIGHT, menu.scrollHeight) || below >= above;
    Object.assign(menu.style, {
      left: `${rect.left}px`,
      width: `${rect.width}px`,
      top: downwards ? `${rect.bottom + 4}px` : "",
      bottom: downwards ? "" : `${window.innerHeight - rect.top + 4}px`,
      maxHeight: `${Math.min(MENU_HEIGHT, downwards ? below : above)}px`,
    });
  }

  document.addEventListener("scroll", (event) => {
    for (const menu of document.querySelectorAll(".combo-menu:not([hidden])")) {
      if (!menu.contains(event.target)) floatBelow(menu, menu.previousElementSibling);
    }
  }, true);

  function element(block, elem, ctx) {
    switch (elem.type) {
      case "button": return button(block, elem, ctx);
      case "checkboxes": return choiceList(block, elem, ctx, true);
      case "radio_buttons": return choiceList(block, elem, ctx, false);
      case "overflow": return overflow(block, elem, ctx);
      case "image": return el("img", { class: "accessory-image", src: elem.image_url, alt: elem.alt_text });
      case "plain_text_input": case "number_input": case "email_text_input":
      case "url_text_input": case "datepicker": case "timepicker":
        return textInput(block, elem, ctx);
      default:
        if (elem.type in STATE_FIELD) return combo(block, elem, ctx);
        return el("span", { class: "unsupported" }, `[${elem.type}]`);
    }
  }

  // ---- blocks ---------------------------------------------------------------------------

  function block(b, ctx) {
    const attrs = { class: `block block-${b.type}`, "data-block-id": b.block_id };
    switch (b.type) {
      case "section": {
        const node = el("div", attrs);
        const main = el("div", { class: "section-main" });
        if (b.text) main.append(textNode(b.text, ctx, "div"));
        if (b.fields) main.append(el("div", { class: "fields" }, b.fields.map((f) => textNode(f, ctx, "div"))));
        node.append(main);
        if (b.accessory) node.append(el("div", { class: "accessory" }, element(b, b.accessory, ctx)));
        return node;
      }
      case "header": return el("h3", attrs, plain(b.text));
      case "divider": return el("hr", attrs);
      case "context":
        return el("div", attrs, (b.elements || []).map((e) => (e.type === "image"
          ? el("img", { src: e.image_url, alt: e.alt_text, class: "context-image" })
          : textNode(e, ctx))));
      case "image":
        return el("figure", attrs, el("img", { src: b.image_url, alt: b.alt_text }),
          b.title ? el("figcaption", {}, plain(b.title)) : null);
      case "actions":
        return el("div", attrs, (b.elements || []).map((e) => element(b, e, ctx)));
      case "input": {
        const node = el("div", attrs);
        const control = element(b, b.element, ctx);
        const focusable = control.matches("input, textarea") ? control : control.querySelector("input, textarea");
        const labelFor = focusable && !["checkbox", "radio"].includes(focusable.type) ? focusable.id : null;
        node.append(el("label", { class: "input-label", for: labelFor }, plain(b.label),
          b.optional ? el("span", { class: "optional" }, " (optional)") : null));
        node.append(control);
        if (b.hint) node.append(el("div", { class: "hint" }, plain(b.hint)));
        const error = (ctx.errors || {})[b.block_id];
        if (error) {
          node.classList.add("has-error");
          node.append(el("div", { class: "input-error", role: "alert" }, error));
        }
        return node;
      }
      case "rich_text":
        return el("div", attrs, richText(b));
      default:
        return el("div", { ...attrs, class: "block unsupported" }, `[${b.type} block]`);
    }
  }

  function richText(b) {
    const texts = [];
    const walk = (node) => {
      if (!node || typeof node !== "object") return;
      if (typeof node.text === "string") texts.push(node.text);
      for (const child of node.elements || []) walk(child);
    };
    walk(b);
    return texts.join("");
  }

  function render(blocks, ctx) {
    ctx.labels = ctx.labels || {};
    ctx.drafts = ctx.drafts || {};
    const root = el("div", { class: "blocks" });
    for (const b of blocks || []) root.append(block(b, ctx));
    return root;
  }

  return { render, mrkdwn, el, plain, escapeHtml };
})();
