import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "07";
  el.textContent = greet("golf") + " (7 of 24)";
}
