// Where this page's WebSockets connect: the same host, ws: or wss: as the page is http: or https:.
export function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}
