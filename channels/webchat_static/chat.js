// Web chat client: the server issues the conversation id; the page keeps only a signed ticket.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var messages = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var send = document.getElementById("send");
  var statusLine = document.getElementById("status");
  var TICKET_KEY = "assistant-webchat-ticket";
  var loginChoices = document.getElementById("login-choices");
  var idportenLogin = document.getElementById("idporten-login");
  var smsLogin = document.getElementById("sms-login");
  var languages = document.getElementById("languages");

  // The page's own words in each language; the bot's replies come in the chosen one.
  var TEXTS = {
    nb: {
      title: "Chat med Bergen kommune", skip: "Hopp til meldingsfeltet",
      intro: "Du snakker med en digital assistent. Her kan du lese brev fra kommunen, svare på tilbud om barnehageplass og se fakturaer. Skriv <strong>HJELP</strong> for å se hva jeg kan.",
      conversation: "Samtale", log: "Samtalen", message: "Din melding", send: "Send",
      login: "Logg inn", sms_login: "Logg inn med engangskode på SMS",
      idporten_login: "Logg inn med ID-porten", languages: "Språk",
      hint: "Trykk Enter for å sende. Skriv fødselsnummer og engangskode bare når assistenten ber om det.",
      connecting: "Kobler til …", connected: "Tilkoblet.",
      unavailable: "Meldingen kom ikke fram. Prøv igjen om litt.",
      invalid: "Meldingen kunne ikke leses. Skriv den på nytt.",
      broken: "Samtalen ble brutt. Last inn siden på nytt.",
      lost: "Mistet forbindelsen. Prøver å koble til igjen …",
      me: "Du", bot: "Assistenten", caseworker: "Saksbehandler", system: "Bergen kommune",
      choices: "Svaralternativer", login_says: "logg inn",
      greeting: "Hei! Skriv HJELP for å se hva jeg kan hjelpe med, eller BREV for å lese brevene dine."
    },
    nn: {
      title: "Chat med Bergen kommune", skip: "Hopp til meldingsfeltet",
      intro: "Du snakkar med ein digital assistent. Her kan du lese brev frå kommunen, svare på tilbod om barnehageplass og sjå fakturaer. Skriv <strong>HJELP</strong> for å sjå kva eg kan.",
      conversation: "Samtale", log: "Samtalen", message: "Meldinga di", send: "Send",
      login: "Logg inn", sms_login: "Logg inn med eingongskode på SMS",
      idporten_login: "Logg inn med ID-porten", languages: "Språk",
      hint: "Trykk Enter for å sende. Skriv fødselsnummer og eingongskode berre når assistenten ber om det.",
      connecting: "Koplar til …", connected: "Tilkopla.",
      unavailable: "Meldinga kom ikkje fram. Prøv igjen om litt.",
      invalid: "Meldinga kunne ikkje lesast. Skriv ho på nytt.",
      broken: "Samtalen vart broten. Last inn sida på nytt.",
      lost: "Mista sambandet. Prøver å kople til igjen …",
      me: "Du", bot: "Assistenten", caseworker: "Sakshandsamar", system: "Bergen kommune",
      choices: "Svaralternativ", login_says: "logg inn",
      greeting: "Hei! Skriv HJELP for å sjå kva eg kan hjelpe med, eller BREV for å lese breva dine."
    },
    en: {
      title: "Chat with Bergen kommune", skip: "Skip to the message field",
      intro: "You are talking to a digital assistant. Here you can read letters from the municipality, answer an offer of a kindergarten place and see your invoices. Write <strong>HELP</strong> to see what I can do.",
      conversation: "Conversation", log: "The conversation", message: "Your message", send: "Send",
      login: "Log in", sms_login: "Log in with a one-time code by SMS",
      idporten_login: "Log in with ID-porten", languages: "Language",
      hint: "Press Enter to send. Give your national identity number and one-time code only when the assistant asks for them.",
      connecting: "Connecting …", connected: "Connected.",
      unavailable: "The message did not get through. Try again shortly.",
      invalid: "The message could not be read. Please write it again.",
      broken: "The conversation was broken off. Reload the page.",
      lost: "Connection lost. Trying to connect again …",
      me: "You", bot: "The assistant", caseworker: "Caseworker", system: "Bergen kommune",
      choices: "Reply options", login_says: "log in",
      greeting: "Hi! Write HELP to see what I can help with, or LETTERS to read your letters."
    }
  };
  var LANG_KEY = "assistant-webchat-lang";
  var lang = TEXTS[sessionStorage.getItem(LANG_KEY)] ? sessionStorage.getItem(LANG_KEY) : "nb";
  function t(key) { return TEXTS[lang][key]; }

  // Writes the page's own words in `chosen` (nb, nn or en) and marks the page with it.
  function applyLanguage(chosen) {
    if (!TEXTS[chosen]) { return; }
    lang = chosen;
    sessionStorage.setItem(LANG_KEY, lang);
    document.documentElement.lang = lang;
    Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (node) {
      node.textContent = t(node.getAttribute("data-text"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-html]"), function (node) {
      node.innerHTML = t(node.getAttribute("data-html"));  // our own fixed text, never input
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-label]"), function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-label")));
    });
    if (statusLine.getAttribute("data-state")) {
      statusLine.textContent = t(statusLine.getAttribute("data-state"));
    }
  }

  // author: "me", "bot", "caseworker" (a person, with a first name) or "system".
  function add(author, text, buttons, name, lang) {
    var item = document.createElement("li");
    if (lang) { item.setAttribute("lang", lang); }
    item.className = author === "me" ? "me" : (author === "bot" ? "bot" : author);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = author === "caseworker" ? (name || t("caseworker"))
      : t(author === "me" || author === "system" ? author : "bot");
    item.appendChild(who);
    if (text) { item.appendChild(document.createTextNode(text)); }
    if (buttons && buttons.length) {
      var choices = document.createElement("div");
      choices.className = "choices";
      choices.setAttribute("role", "group");
      choices.setAttribute("aria-label", t("choices"));
      buttons.forEach(function (button) {
        var choice = document.createElement("button");
        choice.type = "button";
        choice.textContent = button.title;
        choice.addEventListener("click", function () {
          Array.prototype.forEach.call(choices.querySelectorAll("button"), function (b) { b.disabled = true; });
          say(button.payload, button.title);
          input.focus();
        });
        choices.appendChild(choice);
      });
      item.appendChild(choices);
    }
    messages.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  // state: a key of TEXTS (connected, broken, …), kept so a language change rewrites it.
  function setReady(ready, state) {
    input.disabled = !ready;
    send.disabled = !ready;
    showStatus(state);
  }
  function showStatus(state) {
    statusLine.setAttribute("data-state", state);
    statusLine.textContent = t(state);
  }

  var socket = io({ path: "/socket.io", transports: ["websocket", "polling"] });

  function say(message, shown) {
    add("me", shown || message);
    socket.emit("user_uttered", { message: message });
  }

  socket.on("connect", function () {
    socket.emit("session_request", { ticket: sessionStorage.getItem(TICKET_KEY) });
  });
  socket.on("session_confirm", function (session) {
    sessionStorage.setItem(TICKET_KEY, session.ticket);
    // ID-porten login runs in the portal for this conversation; shown only when configured.
    if (session.idporten_login) {
      idportenLogin.href = session.idporten_login + "&lang=" +
        encodeURIComponent(lang);
      loginChoices.hidden = false;
    } else {
      loginChoices.hidden = true;
    }
    if (!session.resumed) { showLanguage("nb"); }  // a new conversation starts in bokmål
    setReady(true, "connected");
    if (!session.resumed && !messages.children.length) {
      add("bot", t("greeting"), null, null, lang);
    }
    input.focus();
  });
  socket.on("bot_uttered", function (message) {
    add(message.author || "bot", message.text || "", message.quick_replies || message.buttons,
        message.name, message.lang);
    if (message.lang && (message.author || "bot") === "bot") { showLanguage(message.lang); }
  });
  socket.on("chat_error", function (error) {
    if (error && error.code === "unavailable") {
      showStatus("unavailable");
      return;
    }
    if (error && error.code === "invalid_text") {
      showStatus("invalid");
      return;
    }
    setReady(false, "broken");
  });
  socket.on("disconnect", function () {
    setReady(false, "lost");
  });

  // Leaving for ID-porten: this page stops taking messages, so the login notice waits for the
  // page that comes back (the old page stays loaded until the redirects end).
  idportenLogin.addEventListener("click", function (event) {
    if (!(event.ctrlKey || event.metaKey || event.shiftKey)) { socket.disconnect(); }
  });

  // The language choice: the bot answers in the chosen language from the next reply on.
  function showLanguage(chosen) {
    Array.prototype.forEach.call(languages.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-lang") === chosen ? "true" : "false");
    });
    applyLanguage(chosen);
  }
  Array.prototype.forEach.call(languages.querySelectorAll("button"), function (button) {
    button.addEventListener("click", function () {
      if (input.disabled) { return; }
      showLanguage(button.getAttribute("data-lang"));
      say(button.getAttribute("data-say"));
      input.focus();
    });
  });

  smsLogin.addEventListener("click", function () {
    say(t("login_says"));
    input.focus();
  });

  showLanguage(lang);  // the choice made earlier in this tab, or bokmål
  showStatus("connecting");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    say(text);
  });
})();
