/* The call detail page's waveform and seeking (calls/regions.py, calls/waveform.py).
 *
 * The <audio id="call-recording"> element streams the WAV; this script never fetches it.
 * It draws the two channels from the server's peaks JSON on a <canvas>, lays the regions
 * (speech turns, DTMF, barge-ins, transcript lines) over it as clickable elements, follows
 * the player with a playhead, and seeks the player when anything with `data-seek` (seconds
 * into the recording) is clicked: a region, a transcript line, a timeline row, a turn.
 *
 * The page's polling replaces fragments in place, so the waveform is (re)built whenever a
 * new #waveform element appears, and the player is looked up afresh each time.
 */
(function () {
  "use strict";

  const LANE_COLOURS = ["#2f6f8f", "#7a4bb5"]; // caller (left channel), agent (right)
  const peaksCache = {}; // url -> Promise of peaks: a finished recording is fetched once

  function player() {
    return document.getElementById("call-recording");
  }

  function seek(seconds) {
    const audio = player();
    if (!audio || !Number.isFinite(seconds)) return;
    const go = () => {
      const end = Number.isFinite(audio.duration) ? audio.duration : seconds;
      audio.currentTime = Math.max(0, Math.min(seconds, end));
      const playing = audio.play();
      if (playing) playing.catch(() => {}); // no audio device, or the user paused: fine
    };
    if (audio.readyState >= 1) go();
    else audio.addEventListener("loadedmetadata", go, {once: true});
  }

  // Anything with data-seek plays the recording from there, unless the click was meant
  // for a control inside it (a payload's <details>, a link, a button).
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target || event.target.closest("a, button, summary, details, input, select, textarea")) return;
    seek(parseFloat(target.dataset.seek));
    for (const old of document.querySelectorAll(".pb-seek-target")) old.classList.remove("pb-seek-target");
    target.classList.add("pb-seek-target");
  });

  function loadPeaks(root) {
    const url = root.dataset.peaksUrl;
    // A recording still being written grows: ask again each time the fragment is rebuilt.
    if (root.dataset.live || !(url in peaksCache)) {
      peaksCache[url] = fetch(url, {credentials: "same-origin"}).then(async (response) => {
        let body = null;
        try {
          body = await response.json();
        } catch (error) {
          body = null;
        }
        if (!response.ok || !body || body.error) {
          throw new Error((body && body.error) || `The waveform could not be loaded (HTTP ${response.status}).`);
        }
        return body;
      });
    }
    return peaksCache[url];
  }

  function drawChannels(canvas, peaks) {
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const lanes = peaks.channels.length;
    const laneHeight = height / lanes;
    peaks.channels.forEach((channel, lane) => {
      const middle = laneHeight * lane + laneHeight / 2;
      const reach = laneHeight / 2 - 2;
      const count = channel.min.length;
      ctx.fillStyle = "rgba(127, 127, 127, 0.35)";
      ctx.fillRect(0, Math.round(middle), width, 1);
      ctx.fillStyle = LANE_COLOURS[lane] || "#555";
      for (let x = 0; x < width; x++) {
        // The buckets under this pixel column: their lowest low and highest high.
        const first = Math.floor((x * count) / width);
        const last = Math.max(first + 1, Math.floor(((x + 1) * count) / width));
        let low = 0;
        let high = 0;
        for (let i = first; i < last && i < count; i++) {
          if (channel.min[i] < low) low = channel.min[i];
          if (channel.max[i] > high) high = channel.max[i];
        }
        const top = middle - high * reach;
        ctx.fillRect(x, top, 1, Math.max(1, (high - low) * reach));
      }
      ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
      ctx.font = "11px sans-serif";
      ctx.fillText(channel.name || `Channel ${lane + 1}`, 4, laneHeight * lane + 12);
    });
  }

  function placeRegions(root, regions, duration) {
    const layer = root.querySelector(".pb-wave-regions");
    layer.textContent = "";
    for (const region of regions) {
      if (region.start_s > duration) continue; // after the recording stopped
      const el = document.createElement("div");
      el.className = `pb-region pb-region-${region.kind}` + (region.lane ? ` pb-lane-${region.lane}` : "");
      el.style.left = `${(100 * Math.max(region.start_s, 0)) / duration}%`;
      if (region.end_s !== null) {
        const end = Math.min(region.end_s, duration);
        el.style.width = `${(100 * Math.max(end - Math.max(region.start_s, 0), 0)) / duration}%`;
      }
      el.dataset.seek = String(region.seek_s);
      el.dataset.kind = region.kind;
      el.title = region.label;
      if (region.kind === "dtmf") el.textContent = region.label.replace(/^DTMF /, "");
      layer.appendChild(el);
    }
  }

  // The waveform on the page now (fragments are replaced) and its recording's length.
  const shown = {root: null, duration: 0};

  function movePlayhead() {
    const audio = player();
    const root = shown.root;
    if (!root || !root.isConnected || !audio || !shown.duration) return false;
    const head = root.querySelector(".pb-playhead");
    head.hidden = false;
    head.style.left = `${(100 * Math.min(audio.currentTime, shown.duration)) / shown.duration}%`;
    return !audio.paused;
  }

  function followPlayer() {
    if (movePlayhead()) requestAnimationFrame(followPlayer);
  }

  // Capturing: media events do not bubble, and the player may be replaced at any time.
  for (const type of ["timeupdate", "seeked", "play"]) {
    document.addEventListener(type, (event) => {
      if (event.target === player()) followPlayer();
    }, true);
  }

  function build(root) {
    if (root.dataset.bound) return;
    root.dataset.bound = "1";
    const status = document.getElementById("waveform-status");
    const regionsScript = document.getElementById("waveform-regions");
    const regions = regionsScript ? JSON.parse(regionsScript.textContent) : [];
    const canvas = root.querySelector("canvas");
    loadPeaks(root).then((peaks) => {
      const duration = peaks.duration_s;
      const draw = () => drawChannels(canvas, peaks);
      draw();
      new ResizeObserver(draw).observe(canvas);
      placeRegions(root, regions, duration);
      shown.root = root;
      shown.duration = duration;
      movePlayhead();
      canvas.addEventListener("click", (event) => {
        const box = canvas.getBoundingClientRect();
        seek(((event.clientX - box.left) / box.width) * duration);
      });
      root.dataset.duration = String(duration);
      root.dataset.state = "drawn";
      let note = "";
      if (peaks.truncated) note = "The recording file is cut short: the waveform shows what it holds.";
      else if (peaks.live) note = "Still recording: this is the audio so far.";
      if (status) {
        status.textContent = note;
        status.hidden = !note;
      }
    }).catch((error) => {
      root.dataset.state = "error";
      if (status) {
        status.textContent = error.message;
        status.classList.add("pb-error");
        status.hidden = false;
      }
    });
  }

  function buildAll() {
    const root = document.getElementById("waveform");
    if (root) build(root);
  }

  new MutationObserver(buildAll).observe(document.documentElement, {childList: true, subtree: true});
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", buildAll);
  else buildAll();
})();
