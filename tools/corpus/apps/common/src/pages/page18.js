import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "18";
  el.textContent = greet("romeo") + " (18 of 24)";
}
