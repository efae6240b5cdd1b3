import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "20";
  el.textContent = greet("tango") + " (20 of 24)";
}
