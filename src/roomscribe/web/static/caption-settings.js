// Caption settings: colours, opacity, size and font of the captions, chosen by the reader.
//
// A classic script in <head>: it applies the saved settings before the first paint, so captions
// never flash in the defaults, then wires the settings form once the page has loaded. Settings
// live in this browser's localStorage; the presets, fonts and limits come from the form itself,
// which the server renders from roomscribe/web/presets.py.
(function () {
  "use strict";

  var KEY = "roomscribe.captions.v1";
  var HEX = /^#[0-9a-f]{6}$/i;
  var FONT_STACK = /^[\w\s,'"-]+$/;
  var root = document.documentElement;

  function read() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEY) || "null");
      return saved && typeof saved === "object" ? saved : null;
    } catch (err) {
      return null; // storage disabled or corrupt: the defaults stand
    }
  }

  function write(settings) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(settings));
    } catch (err) {
      // Storage disabled (private mode, policy): the settings last for this page only.
    }
  }

  function channels(hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  }

  function rgba(hex, opacity) {
    var c = channels(hex);
    return "rgb(" + c[0] + " " + c[1] + " " + c[2] + " / " + opacity + ")";
  }

  // WCAG 2.x relative luminance and contrast, as roomscribe/web/presets.py computes them.
  function luminance(hex) {
    var lin = channels(hex).map(function (v) {
      var c = v / 255;
      return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function blend(top, opacity, under) {
    var t = channels(top), u = channels(under);
    return "#" + t.map(function (v, i) {
      return Math.round(v * opacity + u[i] * (1 - opacity)).toString(16).padStart(2, "0");
    }).join("");
  }

  function apply(s) {
    if (s.text && HEX.test(s.text)) root.style.setProperty("--cap-text", s.text);
    if (s.background && HEX.test(s.background) && isFinite(s.opacity)) {
      root.style.setProperty("--cap-bg", rgba(s.background, s.opacity / 100));
    }
    if (isFinite(s.size)) root.style.setProperty("--cap-scale", String(s.size / 100));
    if (s.stack && FONT_STACK.test(s.stack)) root.style.setProperty("--cap-font", s.stack);
  }

  var saved = read();
  if (saved) apply(saved);

  function wire(form) {
    var details = document.getElementById("caption-settings");
    var fields = form.elements;
    var presets = Array.prototype.slice.call(form.querySelectorAll("input[name=preset]"));
    var fonts = Array.prototype.slice.call(fields.font.options);
    var status = document.getElementById("cs-contrast");
    var minimum = parseFloat(form.dataset.minContrast);
    var page = form.dataset.pageBackground;
    var sizeLimits = [parseInt(fields.size.min, 10), parseInt(fields.size.max, 10)];

    function presetFor(key) {
      return presets.filter(function (p) { return p.value === key && p.dataset.text; })[0];
    }

    function defaults() {
      var preset = presetFor(form.dataset.defaultPreset);
      return {
        preset: preset.value, text: preset.dataset.text, background: preset.dataset.background,
        opacity: parseInt(form.dataset.defaultOpacity, 10),
        size: parseInt(form.dataset.defaultSize, 10), font: form.dataset.defaultFont,
      };
    }

    // Saved values are checked against the form's own limits: storage is user-editable.
    function clean(s) {
      var d = defaults();
      if (!s) return d;
      var font = fonts.filter(function (o) { return o.value === s.font; })[0];
      var size = parseInt(s.size, 10), opacity = parseInt(s.opacity, 10);
      return {
        preset: typeof s.preset === "string" ? s.preset : d.preset,
        text: HEX.test(s.text) ? s.text.toLowerCase() : d.text,
        background: HEX.test(s.background) ? s.background.toLowerCase() : d.background,
        opacity: opacity >= 0 && opacity <= 100 ? opacity : d.opacity,
        size: size >= sizeLimits[0] && size <= sizeLimits[1] ? size : d.size,
        font: font ? font.value : d.font,
      };
    }

    function withStack(s) {
      var option = fonts.filter(function (o) { return o.value === s.font; })[0];
      s.stack = option.dataset.stack;
      return s;
    }

    function show(s) {
      var matching = presetFor(s.preset);
      presets.forEach(function (p) {
        p.checked = matching ? p === matching : p.value === "custom";
      });
      fields.text.value = s.text;
      fields.background.value = s.background;
      fields.opacity.value = String(s.opacity);
      fields.size.value = String(s.size);
      fields.font.value = s.font;
      labelSliders();
      report(s);
    }

    function labelSliders() {
      [fields.opacity, fields.size].forEach(function (slider) {
        var text = slider.value + "%";
        slider.setAttribute("aria-valuetext", text);
        document.getElementById(slider.id + "-value").textContent = text;
      });
    }

    function report(s) {
      var ratio = contrast(s.text, blend(s.background, s.opacity / 100, page));
      var shown = ratio.toFixed(1) + ":1";
      var message = ratio >= minimum
        ? "Contrast " + shown + ": meets the " + minimum + ":1 minimum."
        : "Contrast " + shown + " is below the " + minimum + ":1 minimum; captions may be hard to read.";
      if (status.textContent !== message) status.textContent = message;
      status.classList.toggle("contrast--low", ratio < minimum);
    }

    function current() {
      var checked = presets.filter(function (p) { return p.checked; })[0];
      return {
        preset: checked ? checked.value : "custom",
        text: fields.text.value.toLowerCase(), background: fields.background.value.toLowerCase(),
        opacity: parseInt(fields.opacity.value, 10), size: parseInt(fields.size.value, 10),
        font: fields.font.value,
      };
    }

    function commit(s) {
      s = withStack(s);
      apply(s);
      write(s);
      report(s);
      labelSliders();
    }

    presets.forEach(function (p) {
      var swatch = form.querySelector("label[for='" + p.id + "'] .swatch");
      if (p.dataset.text && swatch) {
        swatch.style.color = p.dataset.text;
        swatch.style.backgroundColor = p.dataset.background;
      }
    });

    form.addEventListener("input", function (event) {
      var target = event.target;
      var s = current();
      if (target.name === "preset") {
        var preset = presetFor(target.value);
        if (!preset) return; // "my own colours" keeps the colours as they are
        s.text = preset.dataset.text;
        s.background = preset.dataset.background;
        // Presets are vouched for at full opacity only.
        s.opacity = 100;
        fields.text.value = s.text;
        fields.background.value = s.background;
        fields.opacity.value = "100";
      } else if (target === fields.text || target === fields.background || target === fields.opacity) {
        var same = presets.filter(function (p) {
          return p.dataset.text === s.text && p.dataset.background === s.background && s.opacity === 100;
        })[0];
        presets.forEach(function (p) { p.checked = same ? p === same : p.value === "custom"; });
        s.preset = same ? same.value : "custom";
      }
      commit(s);
    });
    // Colour pickers report only on change in some browsers.
    form.addEventListener("change", function () { commit(current()); });
    form.addEventListener("submit", function (event) { event.preventDefault(); });

    document.getElementById("cs-reset").addEventListener("click", function () {
      var d = defaults();
      show(d);
      commit(d);
    });

    var start = clean(read());
    show(start);
    apply(withStack(start));
    details.hidden = false;
  }

  // Captions on or off, for this reader (a hearing listener may hide them; a deaf one keeps
  // them): remembered apart from their look, and applied before the first paint like it.
  var SHOWN = "roomscribe.captions.shown";
  function shown() {
    try {
      return window.localStorage.getItem(SHOWN) !== "no";
    } catch (err) {
      return true;
    }
  }
  root.classList.toggle("captions-off", !shown());

  function wireToggle(button) {
    button.hidden = false;
    button.setAttribute("aria-pressed", String(shown()));
    button.addEventListener("click", function () {
      var on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(on));
      root.classList.toggle("captions-off", !on);
      try {
        window.localStorage.setItem(SHOWN, on ? "yes" : "no");
      } catch (err) {
        // Storage disabled: the choice lasts for this page only.
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("caption-settings-form");
    if (form) wire(form);
    var toggle = document.getElementById("caption-toggle");
    if (toggle) wireToggle(toggle);
  });
})();
