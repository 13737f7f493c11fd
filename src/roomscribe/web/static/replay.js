// The replay page: the transcript follows the player (the line being played gets
// aria-current="true" and a highlight), and choosing a line plays from it. Nothing is announced:
// the captions track already speaks for the audio, and a live region here would talk over it.
const audio = document.getElementById("replay-audio");
const lines = Array.from(document.querySelectorAll(".transcript__line"));

if (audio) {
  const start = Number(audio.dataset.start) || 0;
  // The `#t=` fragment on the source starts there in most browsers; this covers the rest.
  const seekToStart = () => {
    if (start > 0 && Math.abs(audio.currentTime - start) > 0.5) audio.currentTime = start;
  };
  if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) seekToStart();
  else audio.addEventListener("loadedmetadata", seekToStart, { once: true });

  const track = audio.querySelector("track");
  if (track && track.track) track.track.mode = "showing";

  let current = null;
  const follow = () => {
    const now = audio.currentTime;
    let found = null;
    for (const line of lines) {
      if (Number(line.dataset.start) <= now + 0.05) found = line;
      else break;
    }
    if (found === current) return;
    if (current) current.removeAttribute("aria-current");
    if (found) {
      found.setAttribute("aria-current", "true");
      // Keep the line in view inside the transcript's own scroll box, without moving focus.
      const box = found.closest(".transcript");
      if (box) {
        const top = found.offsetTop - box.offsetTop;
        if (top < box.scrollTop || top + found.offsetHeight > box.scrollTop + box.clientHeight) {
          box.scrollTop = top - box.clientHeight / 3;
        }
      }
    }
    current = found;
  };
  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  follow();

  for (const line of lines) {
    line.addEventListener("click", (event) => {
      event.preventDefault();
      audio.currentTime = Number(line.dataset.start);
      audio.play().catch(() => {});
      follow();
    });
  }
}
