"use strict";
// The "try one row" form of the model page: posts the row to /invocations as MLflow's
// dataframe_records, shows the predicted label with one probability bar per class, and keeps a
// curl command for the same request. Every string from the model or the server goes into the
// page as text (textContent), never as markup.
(() => {
  const model = JSON.parse(document.getElementById("model-data").textContent);
  const form = document.getElementById("try-form");
  const submit = document.getElementById("submit");
  const token = document.getElementById("token");
  const result = document.getElementById("result");
  const curl = document.getElementById("curl");
  const copy = document.getElementById("copy");
  const endpoint = new URL("invocations", window.location.href).href;

  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const percent = (p) => (100 * p).toFixed(1) + "%";
  const quote = (text) => "'" + text.replace(/'/g, "'\\''") + "'";

  const row = () => {
    const values = {};
    model.columns.forEach((column, index) => {
      const raw = document.getElementById("feature-" + index).value;
      if (model.numeric[index]) values[column] = raw.trim() === "" ? null : Number(raw);
      else values[column] = raw === "" ? null : raw;
    });
    return values;
  };
  const body = () => JSON.stringify({ dataframe_records: [row()] });

  const showCurl = () => {
    const lines = [
      "curl -s " + quote(endpoint),
      "  -H 'Content-Type: application/json'",
    ];
    if (token.value) lines.push("  -H \"Authorization: Bearer $" + model.token_variable + "\"");
    lines.push("  -d " + quote(body()));
    curl.textContent = lines.join(" \\\n");
  };

  const showPrediction = (prediction) => {
    const ranked = model.classes
      .map((name) => [name, Number(prediction[name])])
      .sort((a, b) => b[1] - a[1]);
    const label = element("strong", "verdict-label", String(prediction[model.label]));
    label.id = "prediction-label";
    const verdict = element("div", "verdict");
    verdict.append(
      element("span", "verdict-caption", "Predicted " + model.label),
      label,
      element("span", "verdict-probability", percent(ranked[0][1]) + " probability"),
    );
    const bars = element("ul", "bars");
    bars.id = "probabilities";
    ranked.forEach(([name, p], index) => {
      const item = element("li", index === 0 ? "bar top" : "bar");
      item.dataset.probability = String(p);
      const track = element("span", "bar-track");
      const fill = element("span", "bar-fill");
      fill.style.width = percent(p);
      track.append(fill);
      const caption = element("span", "bar-name", name);
      caption.title = name;
      item.append(caption, track, element("span", "bar-value", percent(p)));
      bars.append(item);
    });
    result.replaceChildren(verdict, bars);
  };

  const showError = (title, message) => {
    const box = element("div", "error");
    box.id = "prediction-error";
    box.setAttribute("role", "alert");
    box.append(element("strong", "", title), element("span", "", message));
    result.replaceChildren(box);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showCurl();
    const headers = { "Content-Type": "application/json" };
    if (token.value) headers.Authorization = "Bearer " + token.value;
    submit.disabled = true;
    result.setAttribute("aria-busy", "true");
    try {
      const reply = await fetch(endpoint, { method: "POST", headers, body: body() });
      const text = await reply.text();
      let answer = null;
      try {
        answer = JSON.parse(text);
      } catch (_) {
        answer = null;
      }
      if (reply.ok && answer && Array.isArray(answer.predictions)) {
        showPrediction(answer.predictions[0]);
      } else {
        const message = (answer && (answer.message || answer.error)) || text || reply.statusText;
        showError("HTTP " + reply.status, String(message));
      }
    } catch (error) {
      showError("No answer", "The server could not be reached: " + error.message);
    } finally {
      submit.disabled = false;
      result.removeAttribute("aria-busy");
    }
  });
  form.addEventListener("input", showCurl);

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(curl.textContent);
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(curl);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      document.execCommand("copy");
    }
    copy.textContent = "Copied";
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  });

  document.querySelectorAll("[data-share]").forEach((bar) => {
    bar.style.width = percent(Number(bar.dataset.share));
  });
  showCurl();
})();
