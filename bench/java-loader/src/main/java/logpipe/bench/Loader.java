package logpipe.bench;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import com.datastax.oss.driver.api.core.cql.BatchStatement;
import com.datastax.oss.driver.api.core.cql.BatchStatementBuilder;
import com.datastax.oss.driver.api.core.cql.BatchType;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.BoundStatementBuilder;
import com.datastax.oss.driver.api.core.cql.ColumnDefinitions;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.Statement;
import com.datastax.oss.driver.api.core.type.DataType;
import com.datastax.oss.driver.api.core.type.DataTypes;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The write ceiling of this Cassandra node for kafka2cassandra's rows: the same INSERT
 * (log_id = now()), the rows of one partition key (source, type) sent as one unlogged
 * batch of {@code batch} rows (1: one row per request), {@code inFlight} requests at
 * once, asynchronously. The rows come from a tab-separated file (source, type, datetime,
 * line) the bench writes. The first {@code warmup} rows of the file are written first and
 * not counted (the JIT compiles the driver's paths meanwhile; a Python process has no such
 * warm-up to wait for), then every row of the file is written and timed. Prints one JSON
 * line: rows written and seconds from the first timed request to the last
 * acknowledgement (connecting, preparing and the warm-up left out).
 *
 * <p>Usage: Loader HOST PORT DATACENTER KEYSPACE ROWS_FILE BATCH IN_FLIGHT WARMUP
 */
public final class Loader {
  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String datacenter = args[2];
    String keyspace = args[3];
    List<String> lines = Files.readAllLines(Path.of(args[4]), StandardCharsets.UTF_8);
    String[] columns = lines.get(0).split("\t");
    List<String[]> rows = new ArrayList<>();
    for (String line : lines.subList(1, lines.size())) {
      rows.add(line.split("\t", columns.length));
    }
    int batch = Integer.parseInt(args[5]);
    int inFlight = Integer.parseInt(args[6]);
    int warmup = Integer.parseInt(args[7]);

    DriverConfigLoader config =
        DriverConfigLoader.programmaticBuilder()
            .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, Duration.ofSeconds(30))
            .withString(DefaultDriverOption.REQUEST_CONSISTENCY, "LOCAL_QUORUM")
            .withInt(DefaultDriverOption.CONNECTION_MAX_REQUESTS, 2048)
            .build();
    try (CqlSession session =
        CqlSession.builder()
            .addContactPoint(new InetSocketAddress(host, port))
            .withLocalDatacenter(datacenter)
            .withKeyspace(keyspace)
            .withConfigLoader(config)
            .build()) {
      PreparedStatement insert =
          session.prepare(
              "INSERT INTO logs ("
                  + String.join(", ", columns)
                  + ", log_id) VALUES ("
                  + "?, ".repeat(columns.length)
                  + "now())");
      ColumnDefinitions variables = insert.getVariableDefinitions();
      kinds = new DataType[columns.length];
      for (int i = 0; i < columns.length; i++) {
        kinds[i] = variables.get(i).getType();
      }
      Semaphore slots = new Semaphore(inFlight);
      AtomicLong written = new AtomicLong();
      AtomicLong failed = new AtomicLong();
      write(session, insert, rows.subList(0, Math.min(warmup, rows.size())), batch, slots,
          new AtomicLong(), new AtomicLong());
      slots.acquire(inFlight);
      slots.release(inFlight);
      long started = System.nanoTime();
      write(session, insert, rows, batch, slots, written, failed);
      slots.acquire(inFlight);
      double seconds = (System.nanoTime() - started) / 1e9;
      System.out.printf(
          "{\"rows\": %d, \"failed\": %d, \"seconds\": %.6f}%n", written.get(), failed.get(), seconds);
    }
  }

  private static DataType[] kinds;

  /** One row bound: cells parsed by their column's type, empty cells left unset. */
  private static BoundStatement bind(PreparedStatement insert, String[] row) {
    BoundStatementBuilder builder = insert.boundStatementBuilder();
    for (int i = 0; i < row.length; i++) {
      String cell = row[i];
      if (cell.isEmpty() && i >= 2) {
        continue;
      }
      if (kinds[i].equals(DataTypes.INT)) {
        builder.setInt(i, Integer.parseInt(cell));
      } else if (kinds[i].equals(DataTypes.BIGINT)) {
        builder.setLong(i, Long.parseLong(cell));
      } else if (kinds[i].equals(DataTypes.TEXT)) {
        builder.setString(i, cell);
      } else {
        throw new IllegalArgumentException("column " + i + " has a type the loader skips");
      }
    }
    return builder.build();
  }

  /** Rows grouped by partition key, each group sent as batches of {@code batch} rows. */
  private static void write(
      CqlSession session,
      PreparedStatement insert,
      List<String[]> rows,
      int batch,
      Semaphore slots,
      AtomicLong written,
      AtomicLong failed)
      throws InterruptedException {
    Map<String, List<String[]>> groups = new LinkedHashMap<>();
    for (String[] row : rows) {
      List<String[]> group = groups.computeIfAbsent(row[0] + "\t" + row[1], k -> new ArrayList<>());
      group.add(row);
      if (group.size() >= batch) {
        send(session, insert, group, slots, written, failed);
        groups.remove(row[0] + "\t" + row[1]);
      }
    }
    for (List<String[]> group : groups.values()) {
      send(session, insert, group, slots, written, failed);
    }
  }

  private static void send(
      CqlSession session,
      PreparedStatement insert,
      List<String[]> group,
      Semaphore slots,
      AtomicLong written,
      AtomicLong failed)
      throws InterruptedException {
    Statement<?> statement;
    if (group.size() == 1) {
      statement = bind(insert, group.get(0));
    } else {
      BatchStatementBuilder builder = BatchStatement.builder(BatchType.UNLOGGED);
      for (String[] r : group) {
        builder.addStatement(bind(insert, r));
      }
      statement = builder.build();
    }
    int size = group.size();
    slots.acquire();
    session
        .executeAsync(statement)
        .whenComplete(
            (result, error) -> {
              if (error == null) {
                written.addAndGet(size);
              } else {
                failed.addAndGet(size);
              }
              slots.release();
            });
  }
}
