import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "06";
  el.textContent = greet("foxtrot") + " (6 of 24)";
}
