"""A tiny locustfile for the distributed-mode tests (plain ``locust -f`` works on it)."""

from locust import FastHttpUser, constant, task


class TinyUser(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def hello(self) -> None:
        self.client.get("/hello", name="hello", context=self.context())
