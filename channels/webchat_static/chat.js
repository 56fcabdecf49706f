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

  // author: "me", "bot", "caseworker" (a person, with a first name) or "system".
  function add(author, text, buttons, name, lang) {
    var item = document.createElement("li");
    if (lang) { item.setAttribute("lang", lang); }
    item.className = author === "me" ? "me" : (author === "bot" ? "bot" : author);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = author === "me" ? "Du" : author === "caseworker"
      ? (name || "Saksbehandler") : author === "system" ? "Bergen kommune" : "Assistenten";
    item.appendChild(who);
    if (text) { item.appendChild(document.createTextNode(text)); }
    if (buttons && buttons.length) {
      var choices = document.createElement("div");
      choices.className = "choices";
      choices.setAttribute("role", "group");
      choices.setAttribute("aria-label", "Svaralternativer");
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

  function setReady(ready, text) {
    input.disabled = !ready;
    send.disabled = !ready;
    statusLine.textContent = text;
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
        encodeURIComponent(document.documentElement.lang || "nb");
      loginChoices.hidden = false;
    } else {
      loginChoices.hidden = true;
    }
    setReady(true, "Tilkoblet.");
    if (!session.resumed && !messages.children.length) {
      add("bot", "Hei! Skriv HJELP for å se hva jeg kan hjelpe med, eller BREV for å lese brevene dine.");
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
      statusLine.textContent = "Meldingen kom ikke fram. Prøv igjen om litt.";
      return;
    }
    setReady(false, "Samtalen ble brutt. Last inn siden på nytt.");
  });
  socket.on("disconnect", function () {
    setReady(false, "Mistet forbindelsen. Prøver å koble til igjen …");
  });

  // Leaving for ID-porten: this page stops taking messages, so the login notice waits for the
  // page that comes back (the old page stays loaded until the redirects end).
  idportenLogin.addEventListener("click", function (event) {
    if (!(event.ctrlKey || event.metaKey || event.shiftKey)) { socket.disconnect(); }
  });

  // The language choice: the bot answers in the chosen language from the next reply on.
  function showLanguage(lang) {
    Array.prototype.forEach.call(languages.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-lang") === lang ? "true" : "false");
    });
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
    say("logg inn");
    input.focus();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    say(text);
  });
})();
