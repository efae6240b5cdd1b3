import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "24";
  el.textContent = greet("xray") + " (24 of 24)";
}
