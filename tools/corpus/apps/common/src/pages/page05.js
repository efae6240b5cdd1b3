import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "05";
  el.textContent = greet("echo") + " (5 of 24)";
}
