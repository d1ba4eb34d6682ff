// The least a cache miss can cost on this machine: a relay in C that reads the body
// from the upstream's socket and writes it to the client's, storing it on the way
// (`store`: recv, pwrite to a file in DIR, send) or not (`forward`: recv, send). One
// connection at a time, no HTTP beyond finding the request's path and the end of the
// upstream's head: the floor under mirror-cache's miss, not a server.
//
//   relay-floor store|forward LISTEN_PORT UPSTREAM_PORT DIR
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int loopback(int port, int listening) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = listening ? bind(fd, (struct sockaddr *)&address, sizeof address) == 0 && listen(fd, 16) == 0
                       : connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (!ok) {
        perror(listening ? "relay-floor: bind" : "relay-floor: connect");
        exit(1);
    }
    return fd;
}

static int sendAll(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t sent = send(fd, bytes, count, MSG_NOSIGNAL);
        if (sent <= 0) return -1;
        bytes += sent;
        count -= (size_t)sent;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "store") && strcmp(argv[1], "forward"))) {
        fprintf(stderr, "usage: relay-floor store|forward LISTEN_PORT UPSTREAM_PORT DIR\n");
        return 2;
    }
    int storing = !strcmp(argv[1], "store");
    int listener = loopback(atoi(argv[2]), 1);
    static char buffer[1 << 20];
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) continue;
        char request[4096], path[2048];
        ssize_t got = recv(client, request, sizeof request - 1, 0);
        if (got <= 0 || sscanf((request[got] = 0, request), "GET %2047s", path) != 1) {
            close(client);
            continue;
        }
        int upstream = loopback(atoi(argv[3]), 0);
        char head[4096];
        int length = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n", path);
        sendAll(upstream, head, (size_t)length);
        // The upstream's head, a byte at a time (it is small), passed on as it is.
        size_t headLength = 0;
        while (headLength < sizeof head && (headLength < 4 || memcmp(head + headLength - 4, "\r\n\r\n", 4))) {
            if (recv(upstream, head + headLength, 1, 0) != 1) break;
            headLength++;
        }
        sendAll(client, head, headLength);
        char name[4096];
        snprintf(name, sizeof name, "%s/relay-floor-%d", argv[4], getpid());
        int file = storing ? open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        off_t offset = 0;
        for (;;) {
            ssize_t count = recv(upstream, buffer, sizeof buffer, 0);
            if (count <= 0) break;
            if (storing && pwrite(file, buffer, (size_t)count, offset) != count) {
                perror("relay-floor: pwrite");
                break;
            }
            offset += count;
            if (sendAll(client, buffer, (size_t)count) != 0) break;
        }
        if (storing) {
            close(file);
            unlink(name);
        }
        close(upstream);
        close(client);
    }
}
